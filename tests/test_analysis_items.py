"""Per-item paired bootstrap (xit.analysis.items) and multiple-comparison helpers (xit.analysis.multiplicity)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xit.analysis import items as item_stats
from xit.analysis.multiplicity import holm, primary_then_secondary
from xit.errors import XitConfigError

LANGUAGES = ["ara", "cmn", "deu", "fra", "hin", "rus", "swh", "tha"]


def item_rows(run_id: str, language: str, values, target: str = "tatoeba") -> list[dict]:
    return [{"run_id": run_id, "target": target, "language": language, "direction": "xx->en", "layer": 12,
             "item": f"{language}-{i:04d}", "value": float(v)} for i, v in enumerate(values)]


def flipped_pair(n_items: int = 400, flips: int = 20, seed: int = 0) -> pd.DataFrame:
    """Run 'a' correct on ~70% of items; run 'b' identical except `flips` correct items per language now wrong."""
    rng = np.random.default_rng(seed)
    rows = []
    for language in LANGUAGES:
        a = (rng.random(n_items) < 0.7).astype(float)
        b = a.copy()
        b[rng.choice(np.flatnonzero(a), size=flips, replace=False)] = 0.0
        rows += item_rows("a", language, a) + item_rows("b", language, b)
    return pd.DataFrame(rows)


def test_paired_difference_recovers_a_known_difference_with_the_expected_width():
    items = flipped_pair()
    diff = item_stats.item_difference(items, "a", "b", n_boot=2000, seed=0).set_index("language")
    assert diff["difference"].drop(["worst"]).to_numpy() == pytest.approx(5.0)  # 20 of 400 items: 5 points everywhere
    mean = diff.loc["mean"]
    assert mean["ci_low"] < 5.0 < mean["ci_high"] and mean["ci_low"] > 0
    # paired items: d is 1 on 5% of items, so sd(d) = sqrt(.05·.95); 95% width ≈ 2·1.96·sd/sqrt(3200) = 1.51 points
    assert 1.2 < mean["ci_high"] - mean["ci_low"] < 1.85
    assert mean["p_value"] == pytest.approx(2 / 2001)
    single = item_stats.item_scores(items, n_boot=2000, seed=0).set_index(["run_id", "language"])
    # one run's interval reflects all of its items' variance (sd ≈ 0.46): far wider than the paired difference
    assert single.loc[("a", "mean"), "ci_high"] - single.loc[("a", "mean"), "ci_low"] > 2 * (mean["ci_high"] - mean["ci_low"])
    assert single.loc[("a", "mean"), "score"] == pytest.approx(mean["score_a"])


def test_paired_difference_interval_covers_the_population_difference_at_about_the_nominal_rate():
    rng = np.random.default_rng(1)
    hits = 0
    for rep in range(100):
        rows = []
        for language in LANGUAGES[:4]:
            a = rng.beta(2.0, 2.0, size=150)  # AP-like values in [0, 1], mean 0.5
            b = a * rng.uniform(0.8, 1.0, size=150)  # keeps 90% of a on average: the population difference is 5 points
            rows += item_rows("a", language, a, "lareqa") + item_rows("b", language, b, "lareqa")
        mean = item_stats.item_difference(pd.DataFrame(rows), "a", "b", n_boot=500, seed=rep).set_index("language").loc["mean"]
        hits += mean["ci_low"] < 5.0 < mean["ci_high"]
    assert 0.88 <= hits / 100 <= 0.99


def test_worst_language_and_per_language_rows():
    rng = np.random.default_rng(2)
    rows = []
    for language in LANGUAGES:
        p = 0.3 if language == "swh" else 0.8
        rows += item_rows("a", language, rng.random(300) < p)
    scores = item_stats.item_scores(pd.DataFrame(rows), n_boot=1000, seed=0).set_index("language")
    worst = scores.loc["worst"]
    assert worst["worst_language"] == "swh" and worst["score"] == pytest.approx(scores.loc["swh", "score"])
    assert worst["ci_low"] < worst["score"] < worst["ci_high"]
    assert scores.loc["mean", "score"] == pytest.approx(scores.loc[LANGUAGES, "score"].mean())
    assert scores.loc["mean", "n_items"] == 8 * 300 and scores.loc["deu", "n_items"] == 300
    assert 20 < scores.loc["swh", "score"] < 40 and scores.loc["swh", "note"] == ""


def test_item_bootstrap_is_seeded_per_language_and_refuses_unpaired_items():
    items = flipped_pair(n_items=50)
    alone = item_stats.item_scores(items[items["run_id"] == "a"], n_boot=300, seed=4)
    together = item_stats.item_scores(items, n_boot=300, seed=4)
    pd.testing.assert_frame_equal(alone, together[together["run_id"] == "a"].reset_index(drop=True))
    assert not together.equals(item_stats.item_scores(items, n_boot=300, seed=5))
    broken = items.drop(index=items.index[(items["run_id"] == "b") & (items["language"] == "deu")][:3])
    with pytest.raises(XitConfigError, match="different items for tatoeba deu"):
        item_stats.item_difference(broken, "a", "b")
    with pytest.raises(XitConfigError, match="run 'c' has no rows"):
        item_stats.item_difference(items, "a", "c")
    with pytest.raises(XitConfigError, match="missing column"):
        item_stats.item_scores(items.drop(columns="item"))


def test_too_few_items_give_no_interval_and_a_note():
    rows = item_rows("a", "deu", [1, 0]) + item_rows("a", "fra", [1, 1, 0, 1])
    scores = item_stats.item_scores(pd.DataFrame(rows), n_boot=200).set_index("language")
    assert scores.loc["deu", "note"] == "too few items (n=2) for an interval"
    assert np.isnan(scores.loc["deu", "ci_low"]) and np.isnan(scores.loc["mean", "ci_high"])
    assert scores.loc["fra", "note"] == "" and scores.loc["fra", "score"] == pytest.approx(75.0)


def test_holm_matches_hand_computed_adjustments():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.01, np.nan, 0.02, 0.6])
    assert np.isnan(adjusted[1]) and adjusted[[0, 2, 3]] == pytest.approx([0.03, 0.04, 0.6])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    with pytest.raises(XitConfigError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


def test_primary_endpoint_first_and_secondary_ones_holm_adjusted_behind_a_gate():
    table = pd.DataFrame({
        "target": ["tatoeba", "tatoeba", "bucc", "lareqa"], "direction": ["xx->en", "en->xx", "xx-en", "q->all"],
        "layer": [12, 12, 12, 12], "metric": ["accuracy", "accuracy", "f1", "map@20"], "p_value": [0.02, 0.01, 0.03, 0.2],
    })
    marked = primary_then_secondary(table, primary=("tatoeba", "xx->en", 12, "accuracy"))
    assert marked["endpoint"].tolist() == ["primary", "secondary", "secondary", "secondary"]
    assert marked["p_adjusted"].tolist() == pytest.approx([0.02, 0.03, 0.06, 0.2])
    assert marked["significant"].tolist() == [True, True, False, False]
    gated = primary_then_secondary(table.assign(p_value=[0.2, 0.001, 0.002, 0.5]), primary={"target": "tatoeba", "direction": "xx->en"})
    assert not gated["significant"].any()  # the primary failed: no secondary claim
    assert primary_then_secondary(table.assign(p_value=[0.2, 0.001, 0.002, 0.5]), primary={"target": "tatoeba", "direction": "xx->en"},
                                  gatekeep=False)["significant"].sum() == 2
    with pytest.raises(XitConfigError, match="matches 2 rows"):
        primary_then_secondary(table, primary={"target": "tatoeba"})
