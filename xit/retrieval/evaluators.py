"""Per-target checks, loaders and evaluators: what a `TargetSpec` (xit.retrieval.targets) points to.

A check validates a configuration against the data on disk before any model is loaded; a loader reads
a target's data for a validated plan; an evaluator encodes it through the run's cache and emits tidy
rows, each stamped with its setup (split, threshold source, prefixes, pooling, max_length, precision).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import DATA_ENV
from xit.retrieval import data as rdata
from xit.retrieval.cache import EmbeddingCache, EncodeSettings
from xit.retrieval.items import MINING_COUNTS, NO_STRATUM, ItemCollector
from xit.retrieval.metrics import (
    PRF,
    carried_thresholds,
    gold_ranks,
    language_bias_table,
    map_at_k,
    mean_prf,
    optimal_threshold,
    prf_at_threshold,
    source_counts,
    tatoeba_hits,
    top_relevant_language,
)
from xit.retrieval.mining import mine, mined_id_pairs

if TYPE_CHECKING:
    from xit.retrieval.targets import TargetSpec

#: The value of setup columns that do not apply to a row (e.g. threshold_source outside mining).
NA = "NA"
#: The columns an evaluator fills (suite.evaluate_encoder adds model and checkpoint in front).
ROW_FIELDS = ["layer", "target", "language", "direction", "metric", "value", "n",
              "split", "threshold_source", "prefix", "pooling", "max_length", "precision"]


def prefix_label(*prefixes: str) -> str:
    """The prefixes of a row, e.g. 'query:/passage:' ('none' for an empty prefix)."""
    return "/".join(p.strip() or "none" for p in prefixes)


@dataclass
class Emitter:
    """Appends rows of one target, split and prefix pair to a run."""

    run: EvalRun
    target: str
    split: str
    prefix: str

    def _setup(self, threshold_source: str) -> dict[str, Any]:
        c = self.run.plan.config
        return {"split": self.split, "threshold_source": threshold_source, "prefix": self.prefix, "pooling": c.pooling,
                "max_length": int(c.max_length), "precision": self.run.precision}

    def add(self, layer: int, language: str, direction: str, metric: str, value: float, n: int, threshold_source: str = NA) -> None:
        """Append one tidy row with the run's setup columns."""
        self.run.rows.append({
            "layer": layer, "target": self.target, "language": language, "direction": direction, "metric": metric, "value": float(value), "n": int(n),
            **self._setup(threshold_source),
        })

    def add_items(
        self, layer: int, language: str, direction: str, metric: str, items: list[str], values: np.ndarray,
        threshold_source: str = NA, stratum: str = NO_STRATUM,
    ) -> None:
        """Record per-item values (see xit.retrieval.items) when the run collects them."""
        if self.run.items is None:
            return
        setup = {"layer": layer, "target": self.target, "language": language, "direction": direction, "metric": metric,
                 "stratum": stratum, **self._setup(threshold_source)}
        self.run.items.add(setup, items, values)


class EvalRun:
    """The state of one evaluation: encoder, layers, prefixes, cache and collected rows."""

    def __init__(self, enc: Any, layers: list[int], plan: Any, cache: EmbeddingCache, precision: str, collect_items: bool = False):
        self.enc, self.layers, self.plan, self.cache, self.precision = enc, layers, plan, cache, precision
        #: Per-item outcomes (xit.retrieval.items), or None when the caller did not ask for them.
        self.items: ItemCollector | None = ItemCollector() if collect_items else None
        c = plan.config
        self.query_prefix = c.query_prefix if c.query_prefix is not None else getattr(enc, "query_prefix", "")
        self.passage_prefix = c.passage_prefix if c.passage_prefix is not None else getattr(enc, "passage_prefix", "")
        # Symmetric targets (bitext mining) encode both sides alike; e5's model card asks for "query: ".
        self.symmetric_prefix = {"query": self.query_prefix, "passage": self.passage_prefix, "": ""}[c.symmetric_prefix]
        self.rows: list[dict[str, Any]] = []

    def embed(self, texts: list[str], prefix: str, desc: str) -> dict[int, np.ndarray]:
        """Embeddings of texts for every requested layer (cached)."""
        c = self.plan.config
        settings = EncodeSettings(prefix=prefix, pooling=c.pooling, max_length=c.max_length,
                                  exclude_special=c.exclude_special, precision=self.precision)
        return self.cache.embed(self.enc, texts, self.layers, settings, batch_size=c.batch_size, progress=c.progress, desc=desc)

    def emitter(self, spec: TargetSpec, *prefixes: str) -> Emitter:
        """A row writer for one target (its split from the spec, the given prefixes)."""
        split = spec.split(self.plan.config) if callable(spec.split) else spec.split
        return Emitter(self, spec.name, str(split), prefix_label(*prefixes))


# --------------------------------------------------------------------------- checks (before the model loads)


def check_tatoeba(c: Any, root: Path | None) -> tuple[str, ...]:
    """Resolve the Tatoeba language set against the files present (or XTREME-R's codes for the hub)."""
    known = rdata.available_tatoeba_languages(root) if c.tatoeba_source == "local" else None
    return tuple(rdata.resolve_tatoeba_languages(c.tatoeba_languages, known))


def check_bucc_tatoeba(c: Any, root: Path | None) -> tuple[str, ...]:
    """Languages of the Tatoeba-derived mining corpora; the parallel pairs must fit the corpus size."""
    languages = rdata.resolve_tatoeba_languages(list(c.bucc_tatoeba_languages), rdata.available_tatoeba_languages(root))
    if c.bucc_tatoeba_pairs > c.bucc_tatoeba_size:
        raise XitConfigError(
            f"eval.bucc_tatoeba_pairs={c.bucc_tatoeba_pairs} exceeds eval.bucc_tatoeba_size={c.bucc_tatoeba_size}; "
            "the parallel pairs are hidden among size sentences per side"
        )
    return tuple(languages)


def check_bucc(c: Any, root: Path | None) -> tuple[str, ...]:
    """Every BUCC file of every language and split (the evaluated one and the threshold one) exists."""
    folder = Path(c.bucc_dir) if c.bucc_dir else None
    for lang in c.bucc_languages:
        for split in [c.bucc_split] + ([c.bucc_threshold_split] if c.bucc_threshold_split else []):
            missing = [str(p) for p in rdata.bucc_files(lang, split, root, folder) if not p.exists()]
            if missing:
                raise DataNotFoundError(
                    f"BUCC {lang}-en {split}: expected file(s) not found: {', '.join(missing)}. Offline only the zh-en "
                    "sample set exists (bucc_languages: [zh], bucc_split: dev); get the others from "
                    "https://comparable.limsi.fr/bucc2018/ and set eval.bucc_dir, or use target 'bucc-tatoeba'."
                )
    return tuple(c.bucc_languages)


def check_lareqa(c: Any, root: Path | None) -> tuple[str, ...]:
    """Resolve the XQuAD-R languages and check their files."""
    languages = rdata.resolve_lareqa_languages(c.lareqa_languages)
    missing = [str(p) for p in (rdata.xquad_r_dir(root) / f"{lang}.json" for lang in languages) if not p.exists()]
    if missing:
        raise DataNotFoundError(
            f"LAReQA (XQuAD-R): expected file(s) not found: {', '.join(missing)}. Get them from {rdata.XQUAD_R_URL} "
            f"or point {DATA_ENV} at the data root."
        )
    return tuple(languages)


def check_mewslix(c: Any, root: Path | None) -> tuple[str, ...]:
    """Mewsli-X needs eval.mewslix_dir with XTREME-R's two JSON-lines files."""
    expected = rdata.mewslix_files(Path(c.mewslix_dir), c.mewslix_split) if c.mewslix_dir else []
    if not c.mewslix_dir or not all(p.exists() for p in expected):
        where = f" (looked for {', '.join(map(str, expected))})" if expected else ""
        raise DataNotFoundError(f"{rdata.MEWSLIX_HOWTO}{where}")
    return ()


# --------------------------------------------------------------------------- loaders (a validated plan -> data)


def load_tatoeba_pairs(plan: Any) -> list[rdata.TatoebaPair]:
    """The configured Tatoeba languages, capped to tatoeba_max_sentences."""
    c = plan.config
    return [rdata.load_tatoeba(lang, plan.root, c.tatoeba_source, c.tatoeba_max_sentences) for lang in plan.languages["tatoeba"]]


def load_bucc_corpora(plan: Any) -> list[tuple[rdata.BuccCorpus, rdata.BuccCorpus | None]]:
    """(evaluated corpus, threshold corpus or None) per BUCC language."""
    c = plan.config
    folder = Path(c.bucc_dir) if c.bucc_dir else None
    out = []
    for lang in plan.languages["bucc"]:
        corpus = rdata.load_bucc(lang, c.bucc_split, plan.root, folder, c.bucc_max_sentences)
        tuning = rdata.load_bucc(lang, c.bucc_threshold_split, plan.root, folder, c.bucc_max_sentences) if c.bucc_threshold_split else None
        out.append((corpus, tuning))
    return out


def load_tatoeba_mining_corpora(plan: Any) -> list[tuple[rdata.BuccCorpus, None]]:
    """One Tatoeba-derived BUCC-style corpus per configured language (seeded by eval.seed)."""
    c = plan.config
    return [(rdata.build_tatoeba_mining_corpus(lang, c.bucc_tatoeba_pairs, c.bucc_tatoeba_size, c.seed, plan.root, split="test"), None)
            for lang in plan.languages["bucc-tatoeba"]]


def load_lareqa(plan: Any) -> rdata.LareqaData:
    """XQuAD-R questions and candidates of the configured languages."""
    c = plan.config
    return rdata.load_xquad_r(list(plan.languages["lareqa"]), plan.root, max_paragraphs=c.lareqa_max_paragraphs,
                              max_questions=c.lareqa_max_questions)


def load_mewslix(plan: Any) -> rdata.MewslixData:
    """Mewsli-X mentions and entities of the configured split."""
    c = plan.config
    return rdata.load_mewslix(c.mewslix_dir, c.mewslix_split, c.mewslix_max_mentions)


# --------------------------------------------------------------------------- evaluators


def evaluate_bitext_accuracy(run: EvalRun, spec: TargetSpec) -> None:
    """Tatoeba-style bitexts (line i translates line i): top-1 accuracy both ways per language, and the mean."""
    pairs = spec.loader(run.plan)
    texts = list(dict.fromkeys(t for p in pairs for t in p.src + p.eng))
    pos = {t: i for i, t in enumerate(texts)}
    prefix = run.symmetric_prefix
    out = run.emitter(spec, prefix, prefix)
    for layer, e in run.embed(texts, prefix, spec.name).items():
        per_dir: dict[str, list[float]] = {"xx->en": [], "en->xx": []}
        for p in pairs:
            src, eng = e[[pos[t] for t in p.src]], e[[pos[t] for t in p.eng]]
            ids = [str(i) for i in range(len(p.src))]  # 0-based line number in the (capped) file pair
            for direction, (q, cands) in {"xx->en": (src, eng), "en->xx": (eng, src)}.items():
                hits = tatoeba_hits(q, cands)
                acc = float(100.0 * np.mean(hits))  # tatoeba_accuracy's formula, so rows stay bit-identical
                per_dir[direction].append(acc)
                out.add(layer, p.language, direction, "accuracy", acc, len(p.src))
                out.add_items(layer, p.language, direction, "accuracy", ids, 100.0 * hits)
                if run.items is not None:
                    out.add_items(layer, p.language, direction, "gold_rank", ids, gold_ranks(q, cands))
        for direction, values in per_dir.items():
            out.add(layer, "all", direction, "accuracy", float(np.mean(values)), sum(len(p.src) for p in pairs))


def _mine_corpus(run: EvalRun, corpus: rdata.BuccCorpus, desc: str) -> dict[int, tuple[list[tuple[str, str]], np.ndarray]]:
    """Mine one corpus at every layer: (id pairs, margin scores)."""
    c = run.plan.config
    prefix = run.symmetric_prefix
    src_e = run.embed(list(dict.fromkeys(corpus.src)), prefix, f"{desc} {corpus.language}")
    en_e = run.embed(list(dict.fromkeys(corpus.en)), prefix, f"{desc} en")
    out = {}
    for layer in run.layers:
        mined = mine(src_e[layer], en_e[layer], k=c.mining_k, strategy=c.mining_strategy, backend=c.knn_backend)
        out[layer] = mined_id_pairs(mined, corpus.src, corpus.en, corpus.src_ids, corpus.en_ids)
    return out


def _add_prf(out: Emitter, layer: int, language: str, prf: PRF, n: int, suffix: str, source: str) -> None:
    for metric in ("f1", "precision", "recall", "threshold"):
        out.add(layer, language, "xx-en", metric + suffix, getattr(prf, metric), n, threshold_source=source)


def _add_count_items(out: Emitter, layer: int, language: str, counts: dict[str, tuple[int, int, int]], source: str, stratum: str) -> None:
    """The mining items of one stratum: per source sentence its gold, mined and correct pair counts."""
    ids = sorted(counts)
    table = np.array([counts[s] for s in ids], dtype=np.float64).reshape(len(ids), 3)
    for j, metric in enumerate(MINING_COUNTS):
        out.add_items(layer, language, "xx-en", metric, ids, table[:, j], threshold_source=source, stratum=stratum)


def evaluate_mining(run: EvalRun, spec: TargetSpec) -> None:
    """BUCC-style mining: P/R/F1 at a carried threshold (headline), and at the oracle threshold (f1_oracle).

    The headline threshold comes from the other half of the gold (``carried-halves``), or, with
    eval.bucc_threshold_split, from that split (``split:<name>``; the halves score is then ``*_halves``).
    Items (when collected) are the headline's per-source counts (xit.retrieval.items.MINING_COUNTS).
    """
    c = run.plan.config
    out = run.emitter(spec, run.symmetric_prefix, run.symmetric_prefix)
    for corpus, tuning in spec.loader(run.plan):
        mined = _mine_corpus(run, corpus, f"{spec.name} {corpus.split}")
        tuned = _mine_corpus(run, tuning, f"{spec.name} {tuning.split}") if tuning is not None else None
        n, lang = len(corpus.gold), corpus.language
        for layer, (pairs, scores) in mined.items():
            halves = carried_thresholds(pairs, scores, corpus.gold, corpus.src_ids, c.seed)
            carried = mean_prf([h.prf() for h in halves])
            _add_prf(out, layer, lang, optimal_threshold(pairs, scores, corpus.gold), n, "_oracle", "oracle")
            if tuned is None:
                _add_prf(out, layer, lang, carried, n, "", "carried-halves")
                for h in halves:
                    _add_count_items(out, layer, lang, source_counts(h.pairs, h.scores, h.gold, h.threshold), "carried-halves", h.name)
                continue
            threshold = optimal_threshold(*tuned[layer], tuning.gold).threshold
            source = f"split:{c.bucc_threshold_split}"
            _add_prf(out, layer, lang, prf_at_threshold(pairs, scores, corpus.gold, threshold), n, "", source)
            _add_prf(out, layer, lang, carried, n, "_halves", "carried-halves")
            _add_count_items(out, layer, lang, source_counts(pairs, scores, corpus.gold, threshold), source, NO_STRATUM)


def _add_ranking_rows(out: Emitter, direction: str, k: int, layer: int, ap: np.ndarray, languages: list[str], ids: list[str]) -> None:
    frame = pd.DataFrame({"language": languages, "ap": ap, "id": ids})
    for lang, group in frame.groupby("language", sort=True):
        out.add(layer, str(lang), direction, f"map@{k}", group["ap"].mean(), len(group))
        out.add_items(layer, str(lang), direction, f"map@{k}", group["id"].tolist(), group["ap"].to_numpy())
    out.add(layer, "all", direction, f"map@{k}", float(ap.mean()), len(ap))


def _add_same_language_items(out: Emitter, layer: int, ids: list[str], languages: list[str], top: list[str]) -> None:
    """Per question: 100 when its highest-ranked relevant answer is in its own language, else 0."""
    same = pd.DataFrame({"language": languages, "id": ids, "value": 100.0 * (np.asarray(languages) == np.asarray(top))})
    for lang, group in same.groupby("language", sort=True):
        out.add_items(layer, str(lang), "q->all", "same_language_top1", group["id"].tolist(), group["value"].to_numpy())


def evaluate_lareqa(run: EvalRun, spec: TargetSpec) -> None:
    """LAReQA: mAP@k of every question over all languages' candidates, and the language-bias view."""
    c = run.plan.config
    data = spec.loader(run.plan)
    q = run.embed(data.questions, run.query_prefix, "lareqa questions")
    a = run.embed(data.candidate_texts(c.lareqa_candidate == "sentence+paragraph"), run.passage_prefix, "lareqa candidates")
    out = run.emitter(spec, run.query_prefix, run.passage_prefix)
    counts = pd.Series(data.question_languages).value_counts()
    for layer in run.layers:
        ap = map_at_k(q[layer], a[layer], data.relevant, c.lareqa_k)
        _add_ranking_rows(out, "q->all", c.lareqa_k, layer, ap, data.question_languages, data.question_ids)
        top = top_relevant_language(q[layer], a[layer], data.relevant, data.candidate_languages)
        _add_same_language_items(out, layer, data.question_ids, data.question_languages, top)
        for qlang, row in language_bias_table(data.question_languages, top).iterrows():
            for alang, share in row.items():
                out.add(layer, str(qlang), f"q->{alang}", "top_relevant_share", share, counts[qlang])
            out.add(layer, str(qlang), "q->all", "same_language_top1", row.get(qlang, 0.0), counts[qlang])


def evaluate_mewslix(run: EvalRun, spec: TargetSpec) -> None:
    """Mewsli-X: mAP@k (= MRR@k, one gold entity) of every mention over the candidate entities."""
    c = run.plan.config
    data = spec.loader(run.plan)
    m = run.embed(data.mentions, run.query_prefix, "mewslix mentions")
    e = run.embed(data.entities, run.passage_prefix, "mewslix entities")
    out = run.emitter(spec, run.query_prefix, run.passage_prefix)
    for layer in run.layers:
        ap = map_at_k(m[layer], e[layer], data.relevant, c.mewslix_k)
        _add_ranking_rows(out, "mention->entity", c.mewslix_k, layer, ap, data.mention_languages, data.mention_ids)
