"""Leakage guard: refuse training texts that exactly match English texts of the evaluation targets.

XQuAD (and so XQuAD-R, LAReQA's data) is 240 paragraphs of the SQuAD v1.1 dev set; the SQuAD readers
already drop those paragraphs, and this guard checks every training task against every target of a
run before training starts. Texts are compared after whitespace normalisation, exactly. Which texts a
target contributes is its `xit.retrieval.targets.TargetSpec.english_texts` (bucc-tatoeba: Tatoeba's).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import datasets

from xit.config import choice
from xit.errors import XitConfigError
from xit.paths import data_dir as default_data_dir
from xit.tasks.readers import normalise_space

log = logging.getLogger(__name__)

POLICIES = ("error", "warn")
#: Texts shorter than this many words ('1', 'Yes .') are too generic to count as leakage.
MIN_WORDS = 3


class ContaminationError(XitConfigError):
    """A training task shares exact texts with an evaluation target."""


def target_texts(target: str, data_dir: str | Path | None = None) -> set[str]:
    """The whitespace-normalised English texts of one evaluation target (its TargetSpec.english_texts; empty for Mewsli-X)."""
    from xit.retrieval.targets import TARGETS

    choice(target, list(TARGETS), "target")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return {t for t in map(normalise_space, TARGETS[target].english_texts(root)) if t}


def texts_of(dataset: datasets.Dataset | Iterable[dict]) -> Iterator[str]:
    """Every text field of canonical examples (text_a/b, question, context, choices, joined tokens)."""
    for ex in dataset:
        for key in ("text_a", "text_b", "question", "context"):
            if ex.get(key):
                yield ex[key]
        yield from ex.get("choices") or []
        if ex.get("tokens"):
            yield " ".join(ex["tokens"])


def find_overlaps(task_texts: dict[str, Iterable[str]], targets: list[str], data_dir: str | Path | None = None,
                  min_words: int = MIN_WORDS) -> dict[tuple[str, str], int]:
    """Number of distinct texts (of at least ``min_words`` words) each task shares exactly with each target."""
    target_sets = {t: target_texts(t, data_dir) for t in targets}
    found: dict[tuple[str, str], int] = {}
    for task, texts in task_texts.items():
        normalised = {t for t in map(normalise_space, texts) if len(t.split()) >= min_words}
        for target, tset in target_sets.items():
            n = len(normalised & tset)
            if n:
                found[(task, target)] = n
    return found


def check_contamination(task_texts: dict[str, Iterable[str]], targets: list[str], policy: str | dict[str, str] = "error",
                        data_dir: str | Path | None = None, min_words: int = MIN_WORDS) -> dict[tuple[str, str], int]:
    """Refuse (policy 'error') or log (policy 'warn') exact text overlaps between training tasks and targets.

    ``policy`` is one of 'error'/'warn' for all targets, or a mapping target -> policy (missing = 'error').
    Returns the overlap counts per (task, target); raises `ContaminationError` naming task, target and count.
    """
    if isinstance(policy, dict):
        for target, pol in policy.items():
            choice(pol, POLICIES, f"policy[{target!r}]")
        policies = dict(policy)
    else:
        policies = {t: choice(policy, POLICIES, "policy") for t in targets}
    if not isinstance(min_words, int) or min_words < 1:
        raise XitConfigError(f"min_words={min_words!r} must be a positive integer")
    found = find_overlaps(task_texts, targets, data_dir, min_words)
    refused = {k: n for k, n in found.items() if policies.get(k[1], "error") == "error"}
    warned = {k: n for k, n in found.items() if k not in refused}
    if warned:
        log.warning("training data overlaps evaluation data (policy 'warn'): %s", _describe(warned))
    if refused:
        raise ContaminationError(
            f"training data overlaps evaluation data: {_describe(refused)}. Remove those tasks or targets, "
            "or set the contamination policy to 'warn' (for all targets or per target) to train anyway."
        )
    return found


def _describe(found: dict[tuple[str, str], int]) -> str:
    return "; ".join(f"task {task!r} shares {n} text(s) with target {target!r}" for (task, target), n in found.items())
