"""Label-destruction controls: the same task inputs with the input–label association broken.

A run on shuffled labels takes the same tasks, heads and optimizer steps as the real run, so any
change it makes to the encoder's cross-lingual geometry is the effect of "some gradient steps"
rather than of the tasks' content (cf. Zhang et al. 2017, arXiv 1611.03530, on random labels).
Each task's destruction is seeded by (seed, task name) only, never by the task's position in a
subset, so a task's shuffled data are the same whichever other tasks it trains with.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import datasets
import numpy as np

from xit.tasks.spec import TaskSpec

_WORD = re.compile(r"\S+")


def task_rng(seed: int, task: str) -> np.random.Generator:
    """A generator seeded by (seed, task name): the same for a task whatever subset it is in."""
    digest = int.from_bytes(hashlib.sha256(task.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([int(seed), digest])


def _replace_column(examples: datasets.Dataset, name: str, values: list[Any]) -> datasets.Dataset:
    """The dataset with one column replaced, keeping the column's declared type."""
    feature = examples.features[name]
    return examples.remove_columns(name).add_column(name, values, feature=feature).select_columns(list(examples.column_names))


def permute_labels(examples: datasets.Dataset, rng: np.random.Generator) -> datasets.Dataset:
    """Classification / regression / multiple choice: the label column permuted (multiset kept)."""
    labels = list(examples["label"])
    order = rng.permutation(len(labels))
    return _replace_column(examples, "label", [labels[i] for i in order])


def deal_tags(examples: datasets.Dataset, rng: np.random.Generator) -> datasets.Dataset:
    """Tagging / NER: all tags of the split pooled, permuted and dealt back in order (lengths and marginal kept)."""
    sequences = list(examples["tags"])
    pooled = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if sequences else np.zeros(0, np.int64)
    shuffled = pooled[rng.permutation(len(pooled))].tolist()
    dealt, at = [], 0
    for seq in sequences:
        dealt.append(shuffled[at : at + len(seq)])
        at += len(seq)
    return _replace_column(examples, "tags", dealt)


def random_span(context: str, answer: str, rng: np.random.Generator) -> tuple[str, int]:
    """A uniformly drawn run of whole words of ``context`` with as many words as ``answer`` (text, start)."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(context)]
    width = min(max(1, len(answer.split())), len(words))
    first = int(rng.integers(0, len(words) - width + 1))
    start, end = words[first][0], words[first + width - 1][1]
    return context[start:end], start


def move_answers(examples: datasets.Dataset, rng: np.random.Generator) -> datasets.Dataset:
    """Span extraction: each answer moved to a random same-length (in words) span of its own context.

    The first gold answer (the one training uses) sets the length; the moved answer replaces
    all gold answers. Unanswerable (SQuAD v2) questions stay unanswerable and draw nothing.
    """
    moved = []
    for context, answers in zip(examples["context"], examples["answers"]):
        if not answers or not answers.get("text") or not _WORD.search(context):
            moved.append({"text": list(answers.get("text") or []), "answer_start": list(answers.get("answer_start") or [])})
            continue
        text, start = random_span(context, answers["text"][0], rng)
        moved.append({"text": [text], "answer_start": [start]})
    return _replace_column(examples, "answers", moved)


_DESTROYERS = {
    "classification": permute_labels,
    "regression": permute_labels,
    "multiple_choice": permute_labels,
    "tagging": deal_tags,
    "ner": deal_tags,
    "span": move_answers,
}


def destroy_labels(spec: TaskSpec, examples: datasets.Dataset, seed: int) -> datasets.Dataset:
    """The examples with their labels destroyed as the task's head type requires, seeded by (seed, task name)."""
    return _DESTROYERS[spec.head](examples, task_rng(seed, spec.name))
