"""Margin-based bitext mining as in LASER/XTREME: cosine kNN both ways, ratio margin, candidate strategies.

Embeddings are L2-normalised, so inner product = cosine. Nearest neighbours come from faiss
(exact ``IndexFlatIP`` by default; ``ivf``/``hnsw`` approximate indexes for corpora of
hundreds of thousands) or from a plain chunked numpy/torch brute force used as a reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xit.errors import XitConfigError

#: Nearest-neighbour backends: faiss exact, faiss approximate, brute-force references.
KNN_BACKENDS = ("flat", "ivf", "hnsw", "numpy", "torch")
#: Candidate strategies of LASER's mine_bitexts.
STRATEGIES = ("forward", "backward", "intersection", "max")


@dataclass(frozen=True)
class MinedPairs:
    """Mined candidate pairs (indices into the two sides) with their margin scores, best first."""

    src: np.ndarray
    tgt: np.ndarray
    score: np.ndarray


def knn(x: np.ndarray, y: np.ndarray, k: int, backend: str = "flat", chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The k most similar rows of y for every row of x: (similarities, indices), best first."""
    if backend not in KNN_BACKENDS:
        raise XitConfigError(f"knn backend {backend!r} is not valid; choose one of {', '.join(KNN_BACKENDS)}")
    k = min(k, len(y))
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if backend in ("flat", "ivf", "hnsw"):
        import faiss

        dim = x.shape[1]
        if backend == "flat":
            index = faiss.IndexFlatIP(dim)
        elif backend == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = max(64, 2 * k)
        else:
            nlist = max(1, min(int(4 * np.sqrt(len(y))), len(y) // 39 or 1))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(y)
            index.nprobe = min(nlist, 16)
        index.add(y)
        sims, ids = index.search(x, k)
        return sims, ids
    sims = np.empty((len(x), k), dtype=np.float32)
    ids = np.empty((len(x), k), dtype=np.int64)
    if backend == "torch":
        import torch

        yt = torch.from_numpy(y)
        for start in range(0, len(x), chunk):
            block = torch.from_numpy(x[start : start + chunk]) @ yt.T
            top = torch.topk(block, k, dim=1)
            sims[start : start + chunk] = top.values.numpy()
            ids[start : start + chunk] = top.indices.numpy()
        return sims, ids
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk] @ y.T
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        part_sims = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-part_sims, axis=1, kind="stable")
        sims[start : start + chunk] = np.take_along_axis(part_sims, order, axis=1)
        ids[start : start + chunk] = np.take_along_axis(part, order, axis=1)
    return sims, ids


def mine(
    x: np.ndarray, y: np.ndarray, k: int = 4, strategy: str = "max", backend: str = "flat"
) -> MinedPairs:
    """Mine candidate pairs between x (source) and y (target) with the ratio margin.

    ``margin(x, y) = cos(x, y) / ((mean kNN sim of x + mean kNN sim of y) / 2)``; each row's best
    candidate among its k neighbours; ``max`` merges both directions greedily by score so every
    sentence is used at most once (LASER's ``--retrieval max``).
    """
    if strategy not in STRATEGIES:
        raise XitConfigError(f"mining strategy {strategy!r} is not valid; choose one of {', '.join(STRATEGIES)}")
    x2y_sim, x2y_ind = knn(x, y, k, backend)
    y2x_sim, y2x_ind = knn(y, x, k, backend)
    x2y_mean = x2y_sim.mean(axis=1)
    y2x_mean = y2x_sim.mean(axis=1)
    # The kNN similarities are the cosines of the candidates, so the margin needs no re-scoring.
    fwd_scores = x2y_sim / ((x2y_mean[:, None] + y2x_mean[x2y_ind]) / 2)
    bwd_scores = y2x_sim / ((y2x_mean[:, None] + x2y_mean[y2x_ind]) / 2)
    fwd_arg = fwd_scores.argmax(axis=1)
    bwd_arg = bwd_scores.argmax(axis=1)
    fwd_best = x2y_ind[np.arange(len(x)), fwd_arg]
    bwd_best = y2x_ind[np.arange(len(y)), bwd_arg]
    fwd_max = fwd_scores.max(axis=1)
    bwd_max = bwd_scores.max(axis=1)
    if strategy == "forward":
        src, tgt, score = np.arange(len(x)), fwd_best, fwd_max
    elif strategy == "backward":
        src, tgt, score = bwd_best, np.arange(len(y)), bwd_max
    elif strategy == "intersection":
        src = np.flatnonzero(bwd_best[fwd_best] == np.arange(len(x)))
        tgt, score = fwd_best[src], fwd_max[src]
    else:
        all_src = np.concatenate([np.arange(len(x)), bwd_best])
        all_tgt = np.concatenate([fwd_best, np.arange(len(y))])
        all_score = np.concatenate([fwd_max, bwd_max])
        used_src, used_tgt = np.zeros(len(x), bool), np.zeros(len(y), bool)
        keep = []
        for i in np.argsort(-all_score, kind="stable"):
            s, t = all_src[i], all_tgt[i]
            if not used_src[s] and not used_tgt[t]:
                used_src[s] = used_tgt[t] = True
                keep.append(i)
        keep = np.asarray(keep, dtype=np.int64)
        src, tgt, score = all_src[keep], all_tgt[keep], all_score[keep]
    order = np.argsort(-score, kind="stable")
    return MinedPairs(np.asarray(src)[order], np.asarray(tgt)[order], np.asarray(score, dtype=np.float64)[order])


def unique_texts(texts: list[str]) -> tuple[list[str], dict[str, list[int]]]:
    """Distinct texts in first-seen order, and for each the positions where it occurs."""
    where: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        where.setdefault(t, []).append(i)
    return list(where), where


def mined_id_pairs(
    mined: MinedPairs, src_texts: list[str], tgt_texts: list[str], src_ids: list[str], tgt_ids: list[str]
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Expand pairs mined over distinct texts to every (src id, tgt id) sharing those texts (XTREME's dedup)."""
    src_where = {}
    for sid, t in zip(src_ids, src_texts):
        src_where.setdefault(t, []).append(sid)
    tgt_where = {}
    for tid, t in zip(tgt_ids, tgt_texts):
        tgt_where.setdefault(t, []).append(tid)
    uniq_src = list(src_where)
    uniq_tgt = list(tgt_where)
    pairs, scores = [], []
    for s, t, sc in zip(mined.src, mined.tgt, mined.score):
        for a in src_where[uniq_src[s]]:
            for b in tgt_where[uniq_tgt[t]]:
                pairs.append((a, b))
                scores.append(sc)
    return pairs, np.asarray(scores, dtype=np.float64)
