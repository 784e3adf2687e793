"""Every retrieval target defined once: a `TargetSpec` record per target in an immutable `TargetRegistry`.

A spec holds what the rest of xit needs to know about a target (in the spirit of MTEB's task metadata):
its data location and loader, languages and named language sets, metrics and the headline metric, the
English texts the contamination guard compares training data against, license, citations, and the
evaluator that turns embeddings into result rows. `xit.retrieval.suite` (what to run),
`xit.analysis.results` (headline metric) and `xit.tasks.contamination` (English texts) all read it.

The built-in registry `TARGETS` is built once and never mutated. Adding a target for one evaluation is
``registry = TARGETS.with_target(TargetSpec(...))`` (a new registry) passed to
``evaluate_encoder(..., registry=registry)``; adding one to xit itself is one entry in `_builtin_specs`
plus one evaluator in `xit.retrieval.evaluators` when its metric is new.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from xit.config import suggest
from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import DATA_ENV
from xit.retrieval import data as rdata
from xit.retrieval import evaluators as ev

#: The papers (and code) the targets' protocols follow; specs cite them by these strings.
XTREME = "Hu et al. 2020, XTREME: A Massively Multilingual Multi-task Benchmark, arXiv 2003.11080 (google-research/xtreme)"
XTREME_R = "Ruder et al. 2021, XTREME-R: Towards More Challenging and Nuanced Multilingual Evaluation, arXiv 2104.07412"
LASER = "Artetxe & Schwenk 2019, Massively Multilingual Sentence Embeddings for Zero-Shot Cross-Lingual Transfer and Beyond, TACL (arXiv 1812.10464)"
BUCC_2017 = "Zweigenbaum, Sharoff & Rapp 2017, Overview of the Second BUCC Shared Task: Spotting Parallel Sentences in Comparable Corpora"
BUCC_2018 = "Zweigenbaum, Sharoff & Rapp 2018, Overview of the Third BUCC Shared Task: Spotting Parallel Sentences in Comparable Corpora"
LAREQA = "Roy et al. 2020, LAReQA: Language-Agnostic Answer Retrieval from a Multilingual Pool, EMNLP (arXiv 2004.05484)"
MEWSLI = "Botha, Shan & Gillick 2020, Entity Linking in 100 Languages, EMNLP (arXiv 2011.02690)"

#: Mewsli-X's mention languages (google-research/xtreme third_party/utils_mewslix.py MENTION_LANGUAGES).
MEWSLIX_LANGUAGES = ("ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk")
#: BUCC 2018's four language pairs with English.
BUCC_LANGUAGES = ("de", "fr", "ru", "zh")


def _always(config: Any) -> bool:
    return True


def _never(config: Any) -> bool:
    return False


def _no_check(config: Any, root: Path | None) -> tuple[str, ...]:
    return ()


def _no_english(root: Path) -> Iterator[str]:
    return iter(())


@dataclass(frozen=True)
class TargetSpec:
    """One retrieval target: data, languages, metrics, contamination texts, provenance and evaluator.

    ``loader(plan)`` returns the target's data for a validated `EvalPlan`; ``evaluator(run, spec)``
    encodes it and emits rows (see `xit.retrieval.evaluators`). ``check(config, root)`` validates the
    configuration and data files before any model is loaded and returns the resolved languages.
    ``english_texts(root)`` yields the English texts the training contamination guard compares against.
    """

    name: str
    label: str
    data_location: str
    loader: Callable[[Any], Any]
    evaluator: Callable[[Any, TargetSpec], None]
    languages: tuple[str, ...]
    metrics: tuple[str, ...]
    headline_metric: str
    #: Row ``direction`` values the target emits (e.g. xx->en and en->xx for Tatoeba).
    directions: tuple[str, ...]
    citation: tuple[str, ...]
    license: str
    language_sets: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    higher_is_better: bool = True
    english_texts: Callable[[Path], Iterator[str]] = _no_english
    check: Callable[[Any, Path | None], tuple[str, ...]] = _no_check
    #: Whether the configuration reads files under the data root ($XIT_DATA_DIR or eval.data_dir).
    needs_data_root: Callable[[Any], bool] = _always
    #: ``targets: all`` skips it with a warning (instead of failing) when its data is missing.
    skip_if_missing: bool = False
    #: The split its rows record: a name, or a function of the EvalConfig (e.g. eval.bucc_split).
    split: str | Callable[[Any], str] = "test"

    def __post_init__(self) -> None:
        if self.headline_metric not in self.metrics:
            raise XitConfigError(f"target {self.name!r}: headline metric {self.headline_metric!r} is not among its metrics {self.metrics}")
        object.__setattr__(self, "language_sets", MappingProxyType(dict(self.language_sets)))


class TargetRegistry(Mapping[str, TargetSpec]):
    """An immutable name -> TargetSpec mapping; `with_target` returns a new registry."""

    def __init__(self, specs: tuple[TargetSpec, ...] | list[TargetSpec]):
        names = [s.name for s in specs]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise XitConfigError(f"target name(s) {', '.join(duplicated)} registered twice; give every target its own name")
        self._specs = MappingProxyType({s.name: s for s in specs})

    def __getitem__(self, name: str) -> TargetSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise XitConfigError(
                f"unknown retrieval target {name!r}.{suggest(name, list(self._specs))} Known targets: {', '.join(self._specs)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: str, default: Any = None) -> Any:
        """The spec of ``name``, or ``default`` when it is not registered."""
        return self._specs.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __hash__(self) -> int:
        return hash(tuple(self._specs))

    def with_target(self, spec: TargetSpec) -> TargetRegistry:
        """A new registry with one more target (the receiver is unchanged)."""
        return TargetRegistry([*self._specs.values(), spec])

    def headline_metrics(self) -> dict[str, str]:
        """target -> the metric it is judged by."""
        return {name: spec.headline_metric for name, spec in self._specs.items()}


# --------------------------------------------------------------------------- English texts (contamination guard)


def _globbed(root: Path, patterns: tuple[str, ...], target: str) -> list[Path]:
    paths = [p for pattern in patterns for p in sorted(root.glob(pattern))]
    if not paths:
        raise DataNotFoundError(
            f"contamination check for target {target!r}: no file matching {', '.join(patterns)} under {root}. "
            f"Set {DATA_ENV}=/path/to/shared/data or pass data_dir=..."
        )
    return paths


def _lines(path: Path, tab_id: bool) -> Iterator[str]:
    """One text per line; BUCC lines are '<id>\\t<sentence>'."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            yield line.split("\t", 1)[1] if tab_id and "\t" in line else line


def tatoeba_english(root: Path) -> Iterator[str]:
    """English sides of every LASER Tatoeba file pair."""
    for path in _globbed(root, ("tatoeba-v1/tatoeba.*-eng.eng",), "tatoeba"):
        yield from _lines(path, tab_id=False)


def bucc_english(root: Path) -> Iterator[str]:
    """English sentences of every BUCC 2018 split present (flat or in {xx}-en/ folders)."""
    for path in _globbed(root, ("bucc2018/*-en.*.en", "bucc2018/*-en/*-en.*.en"), "bucc"):
        yield from _lines(path, tab_id=True)


def xquad_r_english(root: Path) -> Iterator[str]:
    """Contexts, candidate sentences and questions of XQuAD-R's English file."""
    for path in _globbed(root, ("xtreme-r/xquad-r/en.json",), "lareqa"):
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for para in article["paragraphs"]:
                yield para["context"]
                yield from para.get("sentences", [])
                for qa in para["qas"]:
                    yield qa["question"]


# --------------------------------------------------------------------------- the built-in targets


def _builtin_specs() -> tuple[TargetSpec, ...]:
    mining_metrics = tuple(f"{m}{s}" for s in ("", "_oracle", "_halves") for m in ("f1", "precision", "recall", "threshold"))
    return (
        TargetSpec(
            name="tatoeba", label="Tatoeba", data_location="tatoeba-v1/tatoeba.{xxx}-eng.{xxx|eng} (or hub mteb/tatoeba-bitext-mining)",
            loader=ev.load_tatoeba_pairs, evaluator=ev.evaluate_bitext_accuracy, languages=tuple(rdata.XTREMER41),
            language_sets={"xtreme36": tuple(rdata.XTREME36), "xtremer41": tuple(rdata.XTREMER41)},
            metrics=("accuracy",), headline_metric="accuracy", directions=("xx->en", "en->xx"),
            citation=(LASER, XTREME, XTREME_R), license="CC BY 2.0 FR (Tatoeba sentences; LASER test files, facebookresearch/LASER)",
            english_texts=tatoeba_english, check=ev.check_tatoeba, needs_data_root=lambda c: c.tatoeba_source == "local",
        ),
        TargetSpec(
            name="bucc", label="BUCC", data_location="bucc2018/{xx}-en.{split}.{xx|en|gold} (or eval.bucc_dir)",
            loader=ev.load_bucc_corpora, evaluator=ev.evaluate_mining, languages=BUCC_LANGUAGES,
            metrics=mining_metrics, headline_metric="f1", directions=("xx-en",), citation=(BUCC_2017, BUCC_2018, XTREME),
            license="BUCC 2018 shared-task data (Wikipedia CC BY-SA and News Commentary), https://comparable.limsi.fr/bucc2018/",
            english_texts=bucc_english, check=ev.check_bucc, needs_data_root=lambda c: c.bucc_dir is None,
            split=lambda c: c.bucc_split,
        ),
        TargetSpec(
            name="bucc-tatoeba", label="BUCC-style mining (Tatoeba)", data_location="built from tatoeba-v1/ (build_tatoeba_mining_corpus)",
            loader=ev.load_tatoeba_mining_corpora, evaluator=ev.evaluate_mining, languages=tuple(rdata.XTREMER41),
            language_sets={"xtreme36": tuple(rdata.XTREME36), "xtremer41": tuple(rdata.XTREMER41)},
            metrics=mining_metrics, headline_metric="f1", directions=("xx-en",), citation=(LASER, BUCC_2018, XTREME),
            license="CC BY 2.0 FR (Tatoeba sentences)", english_texts=tatoeba_english, check=ev.check_bucc_tatoeba,
        ),
        TargetSpec(
            name="lareqa", label="LAReQA (XQuAD-R)", data_location="xtreme-r/xquad-r/{lang}.json",
            loader=ev.load_lareqa, evaluator=ev.evaluate_lareqa, languages=rdata.XQUAD_R_LANGUAGES,
            language_sets={"all": rdata.XQUAD_R_LANGUAGES},
            metrics=("map@20", "top_relevant_share", "same_language_top1"), headline_metric="map@20",
            directions=("q->all",) + tuple(f"q->{lang}" for lang in rdata.XQUAD_R_LANGUAGES), citation=(LAREQA, XTREME_R),
            license="CC BY-SA 4.0 (XQuAD-R, google-research-datasets/lareqa)", english_texts=xquad_r_english, check=ev.check_lareqa,
        ),
        TargetSpec(
            name="mewslix", label="Mewsli-X", data_location="eval.mewslix_dir: candidate_set_entities.jsonl, wikinews_mentions-{split}.jsonl",
            loader=ev.load_mewslix, evaluator=ev.evaluate_mewslix, languages=MEWSLIX_LANGUAGES,
            language_sets={"all": MEWSLIX_LANGUAGES}, metrics=("map@20",), headline_metric="map@20",
            directions=("mention->entity",), citation=(MEWSLI, XTREME_R),
            license="see google-research dense_representations_for_entity_retrieval/mel (WikiNews text CC BY 2.5, Wikipedia CC BY-SA)",
            check=ev.check_mewslix, needs_data_root=_never, skip_if_missing=True, split=lambda c: c.mewslix_split,
        ),
    )


#: The built-in targets (immutable; extend with ``TARGETS.with_target(spec)``).
TARGETS = TargetRegistry(_builtin_specs())


def target_names(registry: TargetRegistry = TARGETS) -> tuple[str, ...]:
    """Names of the registered targets (what ``eval.targets`` and ``train.eval_targets`` may hold)."""
    return tuple(registry)


def get_target(name: str, registry: TargetRegistry = TARGETS) -> TargetSpec:
    """The spec of one target; an unknown name fails listing the known ones."""
    return registry[name]


__all__ = ["TARGETS", "TargetRegistry", "TargetSpec", "get_target", "target_names"]
