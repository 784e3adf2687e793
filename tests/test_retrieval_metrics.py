"""Retrieval metrics and mining on hand-built cases whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from xit.errors import XitConfigError
from xit.retrieval.metrics import (
    average_precision_at_k,
    carried_halves,
    language_bias_table,
    map_at_k,
    optimal_threshold,
    prf_at_threshold,
    source_halves,
    tatoeba_accuracy,
    top_relevant_language,
)
from xit.retrieval.mining import knn, mine, mined_id_pairs


def _unit(rows: list[list[float]]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_average_precision_at_k_by_hand():
    # Relevant {3, 7}; ranking 5,3,9,7: hits at ranks 2 and 4 -> (1/2 + 2/4) / min(2, k).
    assert average_precision_at_k([5, 3, 9, 7], {3, 7}, k=20) == pytest.approx((0.5 + 0.5) / 2)
    # k=3 cuts the second hit: (1/2) / min(2, 3) = 0.25.
    assert average_precision_at_k([5, 3, 9, 7], {3, 7}, k=3) == pytest.approx(0.25)
    # More relevant than k: the divisor is k, so a perfect top-2 gives 1.0.
    assert average_precision_at_k([1, 2, 3], {1, 2, 3, 4, 5}, k=2) == pytest.approx(1.0)
    assert average_precision_at_k([4, 5], {1}, k=2) == 0.0


def test_map_at_k_ranks_by_dot_product():
    cands = np.eye(4, dtype=np.float32)
    # Query 0 prefers candidate 2 then 0 (relevant {0}): AP = 1/2. Query 1 hits candidate 1 first: AP = 1.
    queries = np.array([[0.5, 0, 0.9, 0], [0, 1.0, 0, 0.2]], dtype=np.float32)
    ap = map_at_k(queries, cands, [[0], [1, 3]], k=20)
    # Query 1: ranking 1, 3 -> hits at 1 and 2 -> (1 + 1) / 2 = 1.
    assert ap.tolist() == pytest.approx([50.0, 100.0])


def test_prf_at_threshold_and_oracle():
    gold = {("a1", "e1"), ("a2", "e2"), ("a3", "e3"), ("a4", "e4")}
    pairs = [("a1", "e1"), ("a2", "e2"), ("a5", "e9"), ("a3", "e3"), ("a6", "e8")]
    scores = np.array([1.5, 1.4, 1.3, 1.2, 1.1])
    # Threshold 1.25 keeps the top three: 2 correct of 3 predicted, 2 of 4 gold found.
    prf = prf_at_threshold(pairs, scores, gold, 1.25)
    assert (prf.precision, prf.recall, prf.n_predicted) == pytest.approx((200 / 3, 50.0, 3))
    assert prf.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5) * 100)
    # The oracle: prefixes give F1 1/2.5, 2/3, 4/7, 6/8=0.75 (top four), 6/9 -> best is the top four, 3 of 4.
    best = optimal_threshold(pairs, scores, gold)
    assert best.f1 == pytest.approx(75.0)
    assert best.threshold == pytest.approx((1.2 + 1.1) / 2)
    assert (best.precision, best.recall) == pytest.approx((75.0, 75.0))


def test_tatoeba_accuracy_hand_built():
    eng = _unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    # Source 0 and 1 land nearest their translations, source 2 nearest English 0.
    src = _unit([[0.9, 0.1, 0], [0.1, 0.9, 0.1], [0.8, 0, 0.5]])
    assert tatoeba_accuracy(src, eng) == pytest.approx(200 / 3)


def test_language_bias_view():
    cands = np.eye(3, dtype=np.float32)
    langs = ["en", "de", "de"]
    queries = np.array([[1, 0.5, 0], [0.2, 0, 1]], dtype=np.float32)
    # Query 0: relevant {0 (en), 1 (de)} -> top relevant is 0 (en). Query 1: {0, 2} -> 2 (de).
    top = top_relevant_language(queries, cands, [[0, 1], [0, 2]], langs)
    assert top == ["en", "de"]
    table = language_bias_table(["en", "en"], top)
    assert table.loc["en", "en"] == pytest.approx(50.0) and table.loc["en", "de"] == pytest.approx(50.0)


def test_knn_backends_agree():
    rng = np.random.default_rng(0)
    x = _unit(rng.normal(size=(300, 16)).tolist())
    y = _unit(rng.normal(size=(400, 16)).tolist())
    ref_s, ref_i = knn(x, y, 4, "numpy")
    for backend in ("flat", "torch"):
        s, i = knn(x, y, 4, backend)
        assert np.array_equal(i, ref_i)
        assert np.allclose(s, ref_s, atol=1e-5)
    # Brute force is exact: the first neighbour is the arg-max of the similarity row.
    assert np.array_equal(ref_i[:, 0], (x @ y.T).argmax(axis=1))


def test_margin_mining_recovers_hidden_pairs_hand_built():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(50, 32))
    src = base[:20] + 0.05 * rng.normal(size=(20, 32))  # 20 sources, each a noisy copy of base 0..19
    tgt = np.vstack([base[:20], base[20:]])  # 50 targets: the 20 translations + 30 distractors
    x, y = _unit(src.tolist()), _unit(tgt.tolist())
    for strategy in ("forward", "backward", "intersection", "max"):
        mined = mine(x, y, k=4, strategy=strategy)
        top = {(int(s), int(t)) for s, t in zip(mined.src[:20], mined.tgt[:20])}
        assert top == {(i, i) for i in range(20)}, strategy
    # Ratio margin of a pair vs its neighbours: > 1 for the true pairs.
    mined = mine(x, y, k=4, strategy="max")
    assert (mined.score[:20] > 1.0).all()


def test_mined_pairs_expand_duplicate_texts_to_all_ids():
    mined = type("M", (), {})()
    mined.src, mined.tgt, mined.score = np.array([0]), np.array([1]), np.array([1.3])
    pairs, scores = mined_id_pairs(mined, ["hallo", "hallo", "x"], ["a", "hello"], ["d1", "d2", "d3"], ["e1", "e2"])
    assert pairs == [("d1", "e2"), ("d2", "e2")]
    assert scores.tolist() == [1.3, 1.3]


def test_carried_halves_threshold_by_hand():
    gold = {("g1", "e1"), ("g2", "e2"), ("g3", "e3"), ("g4", "e4")}
    src_ids = ["g1", "g2", "g3", "g4", "x1", "x2"]
    half_a, half_b = source_halves(src_ids, gold, seed=0)
    # Seed 0: gold sources and distractors each split evenly; the same seed gives the same halves.
    assert (sorted(half_a), sorted(half_b)) == (["g1", "g3", "x2"], ["g2", "g4", "x1"])
    assert source_halves(src_ids, gold, seed=0) == (half_a, half_b)
    pairs = [("g1", "e1"), ("g2", "e2"), ("x1", "e9"), ("g3", "e3"), ("g4", "e5"), ("x2", "e8")]
    scores = np.array([1.5, 1.4, 1.3, 1.2, 1.1, 1.0])
    # Half A = (g1 1.5 hit, g3 1.2 hit, x2 1.0 miss): best F1 after 2 -> threshold (1.2 + 1.0) / 2 = 1.1.
    # Half B = (g2 1.4 hit, x1 1.3 miss, g4 1.1 miss): best F1 after 1 -> threshold (1.4 + 1.3) / 2 = 1.35.
    # B at 1.1: 3 predicted, 1 hit of 2 -> P 1/3, R 1/2, F1 0.4; A at 1.35: 1 predicted, 1 hit of 2 -> P 1, R 1/2, F1 2/3.
    prf = carried_halves(pairs, scores, gold, src_ids, seed=0)
    assert prf.precision == pytest.approx(100 * (1 / 3 + 1) / 2)
    assert prf.recall == pytest.approx(50.0)
    assert prf.f1 == pytest.approx(100 * (0.4 + 2 / 3) / 2)
    assert prf.threshold == pytest.approx((1.1 + 1.35) / 2) and prf.n_predicted == 4
    # The oracle on all the gold is higher: it is tuned on the gold it scores.
    oracle = optimal_threshold(pairs, scores, gold)
    assert oracle.f1 == pytest.approx(75.0) and oracle.f1 > prf.f1
    with pytest.raises(XitConfigError, match="at least 2 gold source sentences"):
        carried_halves(pairs, scores, {("g1", "e1")}, src_ids, seed=0)
