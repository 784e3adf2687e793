"""Retrieval metrics: Tatoeba accuracy, BUCC P/R/F1 at thresholds (oracle, carried across halves), AP@k / mAP@k, LAReQA language bias.

All returned scores are on a 0-100 scale except thresholds (margin scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xit.errors import XitConfigError


def tatoeba_hits(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """One bool per query: is query i's nearest candidate (cosine, faiss exact search) candidate i."""
    from xit.retrieval.mining import knn

    _, ids = knn(queries, candidates, 1)
    return ids[:, 0] == np.arange(len(queries))


def tatoeba_accuracy(queries: np.ndarray, candidates: np.ndarray) -> float:
    """Top-1 accuracy when query i's correct candidate is candidate i (cosine nearest neighbour)."""
    return float(100.0 * np.mean(tatoeba_hits(queries, candidates)))


def gold_ranks(queries: np.ndarray, candidates: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Rank (1 = first) of candidate i for query i: 1 + the number of candidates scoring strictly higher.

    Scores are numpy dot products; on an exact tie with faiss's top-1 the two may disagree by one rank.
    """
    out = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ candidates.T
        rows = np.arange(len(scores))
        gold = scores[rows, start + rows]
        out[start : start + chunk] = 1 + (scores > gold[:, None]).sum(axis=1)
    return out


@dataclass(frozen=True)
class PRF:
    """Precision, recall, F1 (0-100) at a threshold, with the number of predicted pairs."""

    precision: float
    recall: float
    f1: float
    threshold: float
    n_predicted: int


def prf_at_threshold(pairs: list[tuple[str, str]], scores: np.ndarray, gold: set, threshold: float) -> PRF:
    """P/R/F1 of the pairs whose score is >= threshold against the gold pairs."""
    predicted = {p for p, s in zip(pairs, scores) if s >= threshold}
    tp = len(predicted & gold)
    p = tp / len(predicted) if predicted else 0.0
    r = tp / len(gold) if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return PRF(100 * p, 100 * r, 100 * f, float(threshold), len(predicted))


def optimal_threshold(pairs: list[tuple[str, str]], scores: np.ndarray, gold: set) -> PRF:
    """The F1-optimal threshold on the given gold (XTREME's bucc_optimize): the midpoint below the best prefix."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranked = [pairs[i] for i in order]
    s = np.asarray(scores)[order]
    hits = np.cumsum([p in gold for p in ranked]) if ranked else np.zeros(0)
    best_f1, best_i = -1.0, -1
    for i, tp in enumerate(hits):
        if tp == 0:
            continue
        prec, rec = tp / (i + 1), tp / len(gold)
        f1 = 2 * prec * rec / (prec + rec)
        if f1 > best_f1:
            best_f1, best_i = f1, i
    if best_i < 0:
        return PRF(0.0, 0.0, 0.0, float("inf"), 0)
    threshold = (s[best_i] + s[best_i + 1]) / 2 if best_i + 1 < len(s) else s[best_i]
    return prf_at_threshold(pairs, scores, gold, float(threshold))


def average_precision_at_k(ranked: list[int] | np.ndarray, relevant: set[int] | list[int], k: int) -> float:
    """AP@k (0-1): mean of precision@i over relevant hits in the top k, divided by min(#relevant, k)."""
    relevant = set(relevant)
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, item in enumerate(list(ranked)[:k]):
        if item in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / min(len(relevant), k)


def rank_top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first (stable on ties)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)


def map_at_k(queries: np.ndarray, candidates: np.ndarray, relevant: list[list[int]], k: int = 20, chunk: int = 2048) -> np.ndarray:
    """AP@k (0-100) of every query ranking all candidates by dot product."""
    out = np.empty(len(queries), dtype=np.float64)
    for start in range(0, len(queries), chunk):
        top = rank_top(queries[start : start + chunk] @ candidates.T, k)
        for j, row in enumerate(top):
            out[start + j] = 100.0 * average_precision_at_k(row, relevant[start + j], k)
    return out


def top_relevant_language(
    queries: np.ndarray, candidates: np.ndarray, relevant: list[list[int]], candidate_languages: list[str], chunk: int = 2048
) -> list[str]:
    """For each query, the language of its highest-ranked relevant candidate (LAReQA's language-bias view)."""
    langs = np.asarray(candidate_languages)
    out = []
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ candidates.T
        for j, row in enumerate(scores):
            rel = np.asarray(relevant[start + j])
            out.append(str(langs[rel[np.argmax(row[rel])]]))
    return out


def language_bias_table(question_languages: list[str], top_languages: list[str]) -> pd.DataFrame:
    """Question language x language of the top-ranked relevant answer, in % of the row's questions."""
    table = pd.crosstab(pd.Series(question_languages, name="question"), pd.Series(top_languages, name="answer"), normalize="index")
    return 100.0 * table


def source_halves(src_ids: list[str], gold: set[tuple[str, str]], seed: int) -> tuple[frozenset[str], frozenset[str]]:
    """A seeded partition of the source sentence ids into halves A and B.

    Gold source sentences are split evenly (A gets the extra one), then the other sentences, so each
    half holds half of the gold and half of the distractors.
    """
    rng = np.random.default_rng(seed)
    gold_src = sorted({s for s, _ in gold})
    others = sorted(set(src_ids) - set(gold_src))
    a: set[str] = set()
    b: set[str] = set()
    for ids in (gold_src, others):
        order = rng.permutation(len(ids))
        cut = (len(ids) + 1) // 2
        a.update(ids[i] for i in order[:cut])
        b.update(ids[i] for i in order[cut:])
    return frozenset(a), frozenset(b)


@dataclass(frozen=True)
class Half:
    """One half of a carried-halves evaluation: its mined pairs, scores and gold, and the threshold carried to it."""

    name: str
    pairs: list[tuple[str, str]]
    scores: np.ndarray
    gold: set[tuple[str, str]]
    #: The F1-optimal threshold of the *other* half.
    threshold: float

    def prf(self) -> PRF:
        """P/R/F1 of this half at the carried threshold."""
        return prf_at_threshold(self.pairs, self.scores, self.gold, self.threshold)


def carried_thresholds(pairs: list[tuple[str, str]], scores: np.ndarray, gold: set[tuple[str, str]], src_ids: list[str], seed: int) -> tuple[Half, Half]:
    """Halves A and B (`source_halves`), each with the F1-optimal threshold of the other half."""
    if len({s for s, _ in gold}) < 2:
        raise XitConfigError(f"a carried threshold needs at least 2 gold source sentences to split in halves, got {len(gold)} gold pairs")
    scores = np.asarray(scores, dtype=np.float64)
    parts = []
    for ids in source_halves(src_ids, gold, seed):
        keep = [i for i, p in enumerate(pairs) if p[0] in ids]
        parts.append(([pairs[i] for i in keep], scores[keep], {g for g in gold if g[0] in ids}))
    (pairs_a, scores_a, gold_a), (pairs_b, scores_b, gold_b) = parts
    threshold_a = optimal_threshold(pairs_a, scores_a, gold_a).threshold
    threshold_b = optimal_threshold(pairs_b, scores_b, gold_b).threshold
    return Half("A", pairs_a, scores_a, gold_a, threshold_b), Half("B", pairs_b, scores_b, gold_b, threshold_a)


def carried_halves(pairs: list[tuple[str, str]], scores: np.ndarray, gold: set[tuple[str, str]], src_ids: list[str], seed: int) -> PRF:
    """P/R/F1 at a threshold tuned on the other half of the gold (mean of both halves; threshold = mean of both).

    Mining runs once over every sentence; each mined pair is scored in the half of its source sentence
    (`source_halves`), so a half never sees the other half's gold (nor its distractors). The F1-optimal
    threshold of half A scores half B and vice versa: no number is scored at a threshold tuned on its own gold.
    """
    return mean_prf([half.prf() for half in carried_thresholds(pairs, scores, gold, src_ids, seed)])


def mean_prf(parts: list[PRF]) -> PRF:
    """P/R/F1 and threshold averaged over parts (the carried halves), predicted pairs summed."""
    n = len(parts)
    return PRF(sum(p.precision for p in parts) / n, sum(p.recall for p in parts) / n, sum(p.f1 for p in parts) / n,
               sum(p.threshold for p in parts) / n, sum(p.n_predicted for p in parts))


def source_counts(pairs: list[tuple[str, str]], scores: np.ndarray, gold: set[tuple[str, str]], threshold: float) -> dict[str, tuple[int, int, int]]:
    """Per source sentence id: (gold pairs, mined pairs scoring >= threshold, of those gold), for ids with any.

    Summed over sources these are prf_at_threshold's |gold|, |predicted| and true positives.
    """
    counts: dict[str, list[int]] = {}
    for s, _ in gold:
        counts.setdefault(s, [0, 0, 0])[0] += 1
    for pair in {p for p, score in zip(pairs, scores) if score >= threshold}:
        c = counts.setdefault(pair[0], [0, 0, 0])
        c[1] += 1
        c[2] += pair in gold
    return {s: (c[0], c[1], c[2]) for s, c in counts.items()}
