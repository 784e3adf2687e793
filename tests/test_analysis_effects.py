"""k versus task composition (xit.analysis.effects) on constructed run-score tables with known answers."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from analysis_tables import make_results
from scipy import stats as scipy_stats

from xit.analysis import effects, spread, stats
from xit.analysis.results import run_scores, validate_results
from xit.errors import XitConfigError

EFFECTS = {"anli": 3.0, "ccg": -1.0, "commonsenseqa": 2.0, "hellaswag": 0.5, "squad_v1": 1.5}


def factorial(n_tasks: int) -> list[tuple[str, ...]]:
    """Every non-empty subset of the first n_tasks tasks."""
    pool = sorted(EFFECTS)[:n_tasks]
    return [s for k in range(1, n_tasks + 1) for s in combinations(pool, k)]


def cyclic(n_tasks: int, ks: tuple[int, ...]) -> list[tuple[str, ...]]:
    """Balanced subsets: windows of k consecutive tasks around a circle (each task in k of the n windows)."""
    pool = [f"task{i:02d}" for i in range(n_tasks)]
    return sorted({tuple(sorted(pool[(i + j) % n_tasks] for j in range(k))) for k in ks for i in range(n_tasks)})


def score_table(subsets, rng: np.random.Generator, task_effect=EFFECTS, k_slope: float = 0.0, noise: float = 2.0,
                seeds=(1, 2), subset_noise: float = 0.0) -> pd.DataFrame:
    """A run_scores-shaped table: score = 50 + Σ task effects + k_slope·log2(k) [+ subset effect] + seed noise."""
    rows = []
    for tasks in subsets:
        shared = rng.normal(0.0, subset_noise) if subset_noise else 0.0  # non-additive: the same for every seed
        for seed in seeds:
            score = (50.0 + sum(task_effect.get(t, 0.0) for t in tasks) + k_slope * np.log2(len(tasks)) + shared
                     + noise * rng.standard_normal())
            rows.append({"run_id": f"{'+'.join(tasks)}-s{seed}", "k": len(tasks), "tasks": "+".join(tasks),
                         "seed": seed, "target": "tatoeba", "direction": "xx->en", "metric": "accuracy",
                         "layer": 12, "score": score})
    return pd.DataFrame(rows)


def test_without_a_k_term_p_values_are_uniform_and_task_effects_are_covered():
    rng = np.random.default_rng(2024)
    p_values, covered, k_covered = [], [], []
    for i in range(200):
        fit = effects.task_count_effect(score_table(factorial(4), rng), n_perm=199, n_boot=200, seed=i)
        row = fit.summary.iloc[0]
        p_values.append(row["p_value"])
        k_covered.append(row["k_ci_low"] < 0.0 < row["k_ci_high"])
        te = fit.task_effects
        covered += [low < EFFECTS[task] < high for task, low, high in zip(te["task"], te["ci_low"], te["ci_high"])]
    p_values = np.array(p_values)
    assert 0.015 <= (p_values < 0.05).mean() <= 0.09  # binomial band around 5% for 200 tables
    assert scipy_stats.kstest(p_values, "uniform").pvalue > 0.01
    assert 0.90 <= np.mean(covered) <= 0.98  # 800 intervals of 4 task effects, nominal 95%
    assert 0.90 <= np.mean(k_covered) <= 0.99


def test_a_k_term_of_minus_three_points_per_doubling_is_detected_in_a_wide_balanced_design():
    # 12 tasks, k in {1, 2, 4, 8, 12} (like params/wide.yaml): only log2(k)'s curvature is separable from task effects
    rng = np.random.default_rng(7)
    task_effect = {f"task{i:02d}": 0.5 * (i % 5) - 1.0 for i in range(12)}
    subsets = cyclic(12, (1, 2, 4, 8, 12))
    rows = [effects.task_count_effect(score_table(subsets, rng, task_effect, k_slope=-3.0, seeds=(1,)),
                                      n_perm=199, n_boot=200, seed=i).summary.iloc[0] for i in range(60)]
    summary = pd.DataFrame(rows)
    assert (summary["p_value"] < 0.05).mean() >= 0.8
    assert summary["k_effect"].mean() == pytest.approx(-3.0, abs=0.4)
    assert ((summary["k_ci_low"] < -3.0) & (summary["k_ci_high"] > -3.0)).mean() >= 0.85


def test_exact_tables_give_the_constructed_coefficients():
    rng = np.random.default_rng(0)
    additive = effects.task_count_effect(score_table(factorial(5), rng, noise=0.0), n_perm=99, n_boot=200)
    row = additive.summary.iloc[0]
    assert row["k_effect"] == pytest.approx(0.0, abs=1e-9) and row["p_value"] == 1.0
    assert row["n_runs"] == 62 and row["n_subsets"] == 31 and row["residual_df"] == 62 - 7
    te = additive.task_effects.set_index("task")
    assert te["effect"].to_dict() == pytest.approx(EFFECTS)
    assert te["ci_low"].to_numpy() == pytest.approx(te["effect"].to_numpy())  # no noise: the interval collapses
    assert (te["n_runs_with"] == 32).all()
    assert additive.predictions["residual"].abs().max() < 1e-9
    with_k = effects.task_count_effect(score_table(factorial(5), rng, k_slope=-3.0, noise=0.0), n_perm=99, n_boot=200)
    assert with_k.summary.iloc[0]["k_effect"] == pytest.approx(-3.0)
    assert with_k.summary.iloc[0]["p_value"] == pytest.approx(1 / 100)  # exact fit: no permutation reaches it
    assert with_k.predictions["with_k_term"].to_numpy() == pytest.approx(with_k.predictions["score"].to_numpy())


def test_the_grid_results_table_goes_through_run_scores():
    def effect(k, language, tasks, run_seed, layer):
        return 40.0 + sum(EFFECTS[t] for t in tasks.split("+") if t) + (run_seed or 0) * 0.25 + 2.0 * (language == "deu")

    results = validate_results(make_results(effect, k_values=(0, 1, 2, 3), subsets_per_k=10))
    fit = effects.task_count_effect(run_scores(results), n_perm=99, n_boot=100)
    summary = fit.summary.set_index(["target", "direction"])
    assert len(summary) == 4 and (summary["n_runs"] == 2 * 25).all()  # k=0 left out; 5 + 10 + 10 subsets × 2 seeds
    assert summary["k_effect"].abs().max() < 1e-9
    lareqa = fit.task_effects[fit.task_effects["target"] == "lareqa"].set_index("task")["effect"]
    assert lareqa.to_dict() == pytest.approx({t: v / 2 for t, v in EFFECTS.items()})  # LAReQA values are halved


def test_designs_that_cannot_separate_k_from_composition_are_refused():
    rng = np.random.default_rng(0)
    singles_and_full = [(t,) for t in EFFECTS] + [tuple(EFFECTS)]
    with pytest.raises(XitConfigError, match="one subset per k"):
        effects.task_count_effect(score_table(singles_and_full, rng))
    with pytest.raises(XitConfigError, match="every trained run has k=2"):
        effects.task_count_effect(score_table([("anli", "ccg"), ("ccg", "squad_v1"), ("anli", "squad_v1")], rng))
    together = [("anli",), ("anli", "ccg", "squad_v1"), ("ccg", "squad_v1"), ("anli", "ccg", "hellaswag", "squad_v1")]
    with pytest.raises(XitConfigError, match="ccg, squad_v1 cannot be told apart"):
        effects.task_count_effect(score_table(together, rng))
    with pytest.raises(XitConfigError, match="n_perm=5 is too few"):
        effects.task_count_effect(score_table(factorial(3), rng), n_perm=5)
    wrong_k = score_table(factorial(3), rng).assign(k=1)
    with pytest.raises(XitConfigError, match="k that differs"):
        effects.task_count_effect(wrong_k)


def test_training_amount_per_task_enters_only_where_the_total_budget_varies():
    rng = np.random.default_rng(3)
    table = score_table(factorial(4), rng, noise=0.0)
    fixed_total = table.assign(steps_per_task=1200 / table["k"])
    summary = effects.task_count_effect(fixed_total, n_perm=99, n_boot=100).summary.iloc[0]
    assert summary["budget"].startswith("fixed total") and np.isnan(summary["budget_effect"])
    # two total budgets, and 2 points per doubling of the steps each task gets
    doubled = table.assign(run_id=table["run_id"] + "-long", score=table["score"] + 2.0)
    both = pd.concat([table.assign(steps_per_task=100.0), doubled.assign(steps_per_task=200.0)], ignore_index=True)
    summary = effects.task_count_effect(both, n_perm=99, n_boot=100).summary.iloc[0]
    assert summary["budget"].startswith("log2") and summary["budget_effect"] == pytest.approx(2.0)
    assert summary["k_effect"] == pytest.approx(0.0, abs=1e-9)
    tied = table.assign(steps_per_task=100.0 * table["k"] ** 0.5)  # amount a function of k: aliased with log2(k)
    with pytest.raises(XitConfigError, match="aliased"):
        effects.task_count_effect(tied)


def both_budgets(rng: np.random.Generator, k_slope: float, amount_slope: float, noise: float = 2.0) -> pd.DataFrame:
    """The study's factorial: every subset of 4 tasks at 60 steps per task and at a fixed total of 60 steps."""
    per_task = score_table(factorial(4), rng, k_slope=k_slope, noise=noise).assign(steps_per_task=60.0)
    total = score_table(factorial(4), rng, k_slope=k_slope, noise=noise)
    total = total.assign(run_id=total["run_id"] + "-total", steps_per_task=60.0 / total["k"])
    table = pd.concat([per_task, total], ignore_index=True)
    return table.assign(score=table["score"] + amount_slope * np.log2(table["steps_per_task"] / 60.0))


def test_the_k_effect_at_a_fixed_total_is_the_k_term_minus_the_amount_term():
    rng = np.random.default_rng(13)
    exact = effects.task_count_effect(both_budgets(rng, k_slope=-4.0, amount_slope=-3.0, noise=0.0), n_perm=99,
                                      n_boot=200).summary.iloc[0]
    assert exact["budget"].startswith("log2")
    assert exact["k_effect"] == pytest.approx(-4.0) and exact["budget_effect"] == pytest.approx(-3.0)
    assert exact["k_effect_fixed_total"] == pytest.approx(-1.0)  # doubling k and halving each task's steps
    assert exact["p_value_fixed_total"] == pytest.approx(1 / 100)  # exact fit: no permutation reaches it
    assert exact["k_total_ci_low"] == pytest.approx(-1.0) and exact["budget_ci_high"] == pytest.approx(-3.0)
    # the k term equal to the amount term: more tasks at the same total changes nothing, and the test says so
    rows = pd.DataFrame([effects.task_count_effect(both_budgets(rng, k_slope=-3.0, amount_slope=-3.0), n_perm=99,
                                                   n_boot=100, seed=i).summary.iloc[0] for i in range(60)])
    assert 0.0 <= (rows["p_value_fixed_total"] < 0.05).mean() <= 0.15
    assert rows["k_effect"].mean() == pytest.approx(-3.0, abs=0.5)  # at the same steps per task, k still costs 3
    assert rows["k_effect_fixed_total"].mean() == pytest.approx(0.0, abs=0.5)
    assert ((rows["k_total_ci_low"] < 0.0) & (rows["k_total_ci_high"] > 0.0)).mean() >= 0.85
    fixed = effects.task_count_effect(score_table(factorial(4), rng), n_perm=99, n_boot=100).summary.iloc[0]
    assert np.isnan(fixed["k_effect_fixed_total"]) and np.isnan(fixed["budget_ci_low"])  # one amount: no such split


def test_a_task_in_too_few_runs_gets_its_effect_but_no_interval():
    rng = np.random.default_rng(17)
    table = pd.concat([score_table(factorial(4), rng),
                       score_table([("anli", "mrpc")], rng, task_effect=EFFECTS | {"mrpc": 4.0}, seeds=(1,))],
                      ignore_index=True)
    te = effects.task_count_effect(table, n_perm=99, n_boot=200).task_effects.set_index("task")
    # mrpc is in one run, so that run fits it exactly and every resample would agree: no interval, a note instead
    assert te.loc["mrpc", "n_runs_with"] == 1 and np.isnan(te.loc["mrpc", "ci_low"]) and np.isnan(te.loc["mrpc", "ci_high"])
    assert te.loc["mrpc", "note"] == "1 of 31 runs have the task: too few on one side for an interval"
    assert np.isfinite(te.loc["mrpc", "effect"])
    assert te.drop("mrpc")["ci_low"].notna().all() and not te.drop("mrpc")["note"].str.contains("too few").any()


def test_controls_and_untrained_runs_are_left_out_and_small_designs_get_a_note():
    rng = np.random.default_rng(5)
    table = score_table(factorial(4), rng)
    extra = table.head(6).assign(run_id=lambda d: d["run_id"] + "-ctl", kind="control", score=0.0)
    untrained = table.head(1).assign(run_id="base", k=0, tasks="", seed=pd.NA, score=-50.0)
    mixed = pd.concat([table.assign(kind="task"), extra, untrained], ignore_index=True)
    pd.testing.assert_frame_equal(effects.task_count_effect(mixed, n_perm=99, n_boot=100, seed=1).summary,
                                  effects.task_count_effect(table, n_perm=99, n_boot=100, seed=1).summary)
    demo = [("anli",), ("ccg",), ("hellaswag",), ("squad_v1",), ("anli", "ccg"), ("anli", "ccg", "hellaswag", "squad_v1")]
    small = effects.task_count_effect(score_table(demo, rng, seeds=(1,)))
    row = small.summary.iloc[0]
    assert np.isnan(row["k_ci_low"]) and np.isnan(row["p_value"]) and np.isfinite(row["k_effect"])
    assert row["note"] == "too few runs (n=6, residual df=0) for an interval or a p-value"
    assert small.task_effects["ci_low"].isna().all()


def test_subset_spread_matches_subset_spread_and_is_calibrated_without_interactions():
    rng = np.random.default_rng(11)
    tables = [score_table(factorial(5), rng) for _ in range(100)]
    rows = pd.concat([spread.subset_spread_vs_additive(t, n_sim=300, seed=i) for i, t in enumerate(tables)])
    plain = stats.subset_spread(tables[0].assign(score=tables[0]["score"])).set_index("k")["std"]
    first = spread.subset_spread_vs_additive(tables[0], n_sim=300, seed=0).set_index("k")
    assert first["observed_sd"].to_numpy()[:-1] == pytest.approx(plain.to_numpy()[:-1])
    assert first.loc[5, "note"] == "one subset at this k: no spread" and (first["noise_from"] == "seed replicates").all()
    tested = rows[rows["k"].between(2, 3)]  # ten subsets at each
    assert (tested["p_value"] < 0.05).mean() <= 0.09
    assert ((tested["excess_ci_low"] < 0) & (tested["excess_ci_high"] > 0)).mean() >= 0.88


def test_subset_spread_beyond_additive_is_detected():
    rng = np.random.default_rng(12)
    rows = pd.concat([spread.subset_spread_vs_additive(score_table(factorial(5), rng, subset_noise=4.0), n_sim=300, seed=i)
                      for i in range(40)])
    tested = rows[rows["k"].between(2, 3)]
    assert (tested["excess"] > 0).mean() >= 0.85
    assert (tested["p_value"] < 0.05).mean() >= 0.85
    few = spread.subset_spread_vs_additive(score_table(factorial(3), rng), n_sim=100).set_index("k")
    assert few.loc[2, "note"] == "" and few.loc[1, "n_subsets"] == 3


def test_the_same_subset_at_two_budgets_is_two_conditions_not_seed_noise():
    # Both budget policies of a 4-task factorial, as in the study: per task 60 steps, or 60 in total (60/k per task).
    # Training amount moves the score by 10 points per doubling; seed noise has SD 2. Runs of the same subset at
    # another budget are not replicates, so the noise estimate stays near 2 rather than taking in the budget effect.
    rng = np.random.default_rng(5)
    noise_sd = []
    for i in range(20):
        tables = []
        for per_task in (True, False):
            table = score_table(factorial(4), rng, seeds=(1, 2))
            amount = 60.0 if per_task else 60.0 / table["k"]
            table = table.assign(steps_per_task=amount, score=table["score"] + 10.0 * np.log2(amount / 60.0),
                                 run_id=table["run_id"] + ("-per-task" if per_task else "-total"))
            tables.append(table)
        both = pd.concat(tables, ignore_index=True).drop_duplicates(subset=["tasks", "seed", "steps_per_task"])
        rows = spread.subset_spread_vs_additive(both, n_sim=100, seed=i).set_index("k")
        assert rows.loc[2, "n_subsets"] == 12 and rows.loc[1, "n_subsets"] == 4  # k=1: one budget, 60 steps either way
        noise_sd.append(rows.loc[2, "noise_sd"])
    assert 1.5 <= float(np.median(noise_sd)) <= 2.5
    labels = stats.condition_labels(pd.DataFrame({"tasks": ["anli", "anli"], "steps_per_task": [60, 30.0]}))
    assert labels.tolist() == ["anli @ 60", "anli @ 30"]
