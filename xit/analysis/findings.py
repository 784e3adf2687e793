"""The findings in the order the notebooks and the report tell them, each as a table with a ``note`` column.

(1) the primary endpoint; (2) training versus none; (3) per-task effects; (4) the number of tasks k beyond
composition, and the all-task run against the best single task on the same items; (5) robustness (subset spread
against the additive null, seeds, bottom-quartile languages, layers, the worst language's item interval). Controls
and drift, (6) and (7), are in ``xit.analysis.controls``. Only task runs (and the k = 0 baseline) enter (2)-(5).
Secondary endpoints (other targets, directions, layers) are Holm-corrected behind the primary one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from xit.analysis import effects, items, spread, stats
from xit.analysis.inputs import AnalysisInputs
from xit.analysis.multiplicity import primary_then_secondary
from xit.errors import XitConfigError

ENDPOINT_COLUMNS = ["target", "direction", "layer", "metric"]


def primary_scores(inputs: AnalysisInputs) -> pd.DataFrame:
    """Run scores (task runs and the baseline) at the primary endpoint."""
    return inputs.primary.rows(stats.task_runs(inputs.all_scores))


def endpoint_table(inputs: AnalysisInputs) -> pd.DataFrame:
    """(1) The primary endpoint: what it is, where it was named, the untrained score and how many runs it has per k."""
    scores = primary_scores(inputs)
    base = scores.loc[scores["k"] == 0, "score"]
    runs_per_k = scores.groupby("k")["run_id"].nunique()
    return pd.DataFrame([inputs.primary.key() | {
        "named in": inputs.primary.source, "untrained (k=0)": float(base.mean()) if len(base) else np.nan,
        "task runs": int((scores["k"] >= 1).sum()), "runs per k": ", ".join(f"k={k}: {n}" for k, n in runs_per_k.items()),
    }])


def training_vs_none(inputs: AnalysisInputs, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """(2) Trained minus untrained per endpoint: the primary first (p unadjusted), the others Holm-adjusted."""
    table = stats.training_vs_none(inputs.all_scores, n_boot=n_boot, seed=seed)
    if table.empty or inputs.primary.rows(table).empty:
        return pd.DataFrame([inputs.primary.key() | {"endpoint": "primary", "n_runs": 0,
                                                     "note": "no trained task runs at the primary endpoint"}])
    return primary_then_secondary(table, inputs.primary.key())


def training_by_k(inputs: AnalysisInputs, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """(2) The same at the primary endpoint, per k."""
    return inputs.primary.rows(stats.training_vs_none(inputs.all_scores, n_boot=n_boot, seed=seed, by_k=True))


def _refused(reason: str) -> pd.DataFrame:
    return pd.DataFrame([{"note": f"not estimated: {reason}"}])


def identified_runs(scores: pd.DataFrame) -> tuple[set[str], list[str], list[str]]:
    """The trained task runs the k fit uses; the tasks left out because the additive model cannot tell them apart
    yet; and the tasks left out because one run alone has them.

    A grid (finished or part-way) can hold tasks that were only ever trained together (a nested order adds them in
    blocks, and only another order separates them): their runs are left out. A task in a single run is fitted
    exactly by that run (leverage 1), so the run changes no other estimate, while resampling runs would drop every
    resample that misses it: it is left out too. Every other run is fitted."""
    runs = stats.task_runs(scores, include_untrained=False)
    aliased_out: set[str] = set()
    lone_out: set[str] = set()
    while len(runs):
        sets = runs["tasks"].str.split("+")
        aliased = set(effects.aliased_columns(effects.task_design(runs)))
        if aliased and not aliased <= set(sets.explode()):
            return set(), sorted(aliased), []  # the intercept or the amount term: not fixed by leaving tasks out
        counts = sets.explode().value_counts()
        lone = set(counts[counts == 1].index) - aliased
        if not (aliased or lone):
            break
        aliased_out |= aliased
        lone_out |= lone
        runs = runs[~sets.map(lambda tasks: bool((aliased | lone) & set(tasks)))]
    return set(runs["run_id"]), sorted(aliased_out), sorted(lone_out - aliased_out)


def identified_filter(scores: pd.DataFrame) -> tuple[Callable[[pd.DataFrame], pd.DataFrame], str]:
    """A filter keeping the baseline and the task runs identified_runs keeps, and a note naming what it left out
    ('' and the identity when nothing is left out, or when leaving tasks out cannot identify the model)."""
    kept, aliased, lone = identified_runs(scores)
    if not ((aliased or lone) and kept):
        return (lambda table: table), ""
    trained = scores.loc[scores["k"] > 0, "run_id"].nunique()
    parts = ([f"runs with {', '.join(aliased)} are left out: the design does not separate those tasks"] if aliased else []) + (
        [f"runs with {', '.join(lone)} are left out: those tasks are in too few runs (a task's only run fits its "
         "effect exactly and tells nothing about the rest)"] if lone else [])
    note = f"{len(kept)} of {trained} task runs; " + "; ".join(parts)
    return (lambda table: table[table["run_id"].isin(kept) | (table["k"] == 0)]), note


def task_count_effect(inputs: AnalysisInputs, n_perm: int = 999, n_boot: int = 2000, seed: int = 0) -> effects.TaskCountEffect | str:
    """effects.task_count_effect on every endpoint's task runs (the primary alone when another endpoint's design is
    refused), or the reason the primary endpoint's design cannot support it. Runs of tasks not yet told apart
    are left out (identified_runs), and the summary's runs_note says which."""
    keep, runs_note = identified_filter(primary_scores(inputs))
    try:
        fit = effects.task_count_effect(keep(primary_scores(inputs)), n_perm=n_perm, n_boot=n_boot, seed=seed)
    except XitConfigError as err:
        return str(err)
    try:
        fit = effects.task_count_effect(keep(stats.task_runs(inputs.all_scores)), n_perm=n_perm, n_boot=n_boot, seed=seed)
    except XitConfigError:
        pass
    fit.summary["runs_note"] = runs_note
    return fit


def k_effect_table(fit: effects.TaskCountEffect | str, inputs: AnalysisInputs) -> pd.DataFrame:
    """(4) log2(k) beyond the additive task model per endpoint, the primary first; or a row saying why not estimated."""
    if isinstance(fit, str):
        return _refused(fit).assign(**inputs.primary.key())
    summary = fit.summary
    if inputs.primary.rows(summary).empty:
        return summary.assign(endpoint="secondary")
    return primary_then_secondary(summary, inputs.primary.key())


def task_effects_table(fit: effects.TaskCountEffect | str, inputs: AnalysisInputs) -> pd.DataFrame:
    """(3) Each task's additive effect at the primary endpoint (points); when the model is refused, each single-task
    run's gain over k = 0 instead, with the reason in the note."""
    if not isinstance(fit, str):
        return inputs.primary.rows(fit.task_effects).assign(estimate="additive-model effect")
    scores = primary_scores(inputs)
    base = scores.loc[scores["k"] == 0, "score"].mean()
    single = scores[scores["k"] == 1].groupby("tasks").agg(gain=("score", "mean"), n_runs=("run_id", "nunique")).reset_index()
    if single.empty:
        return _refused(f"no single-task (k=1) runs, and the additive model was refused: {fit}")
    rows = [{"task": row.tasks, "effect": float(row.gain - base), "ci_low": np.nan, "ci_high": np.nan,
             "n_runs_with": int(row.n_runs), "estimate": "k=1 gain over k=0",
             "note": (stats.small_sample_note(int(row.n_runs)) + "; " if row.n_runs < stats.MIN_FOR_INTERVAL else "")
             + f"additive model not fitted: {fit}"} for row in single.itertuples()]
    return pd.DataFrame(rows).assign(**inputs.primary.key()).sort_values("effect", ascending=False, ignore_index=True)


def spread_vs_additive(inputs: AnalysisInputs, n_sim: int = 2000, seed: int = 0) -> pd.DataFrame:
    """(5) Subset spread at each k at the primary endpoint against the additive null (or why not estimated)."""
    keep, runs_note = identified_filter(primary_scores(inputs))
    try:
        return spread.subset_spread_vs_additive(keep(primary_scores(inputs)), n_sim=n_sim, seed=seed).assign(runs_note=runs_note)
    except XitConfigError as err:
        return _refused(str(err))


def seed_spread(inputs: AnalysisInputs) -> pd.DataFrame:
    """(5) Spread across seeds of the same condition (subset and budget) at the primary endpoint; the note says where
    there is one seed only."""
    table = stats.seed_spread(primary_scores(inputs))
    table["note"] = np.where(table["n_seeds"] < 2, "one seed per condition: no seed spread", "")
    return table


def language_spread(inputs: AnalysisInputs, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """(5) Mean, bottom-quartile and worst-language scores per k at the primary endpoint (intervals over runs)."""
    return stats.language_spread(primary_scores(inputs), n_boot=n_boot, seed=seed)


def layers_table(inputs: AnalysisInputs) -> pd.DataFrame:
    """(5) Per k, the best layer of the primary target and direction and how far it beats the deepest layer."""
    table = stats.best_layer_per_k(inputs.results)
    p = inputs.primary
    return table[(table["target"] == p.target) & (table["direction"] == p.direction)].reset_index(drop=True)


def all_and_best_single(inputs: AnalysisInputs) -> tuple[str, str] | None:
    """Run ids of the best single-task run at the primary endpoint and the all-task run (largest k) that matches its
    seed and per-task amount where one does; None without k = 1 runs and a run with k >= 2."""
    scores = primary_scores(inputs)
    single, k_max = scores[scores["k"] == 1], int(scores["k"].max())
    if single.empty or k_max < 2:
        return None
    best = single.sort_values(["score", "run_id"], ascending=[False, True]).iloc[0]
    full = scores[scores["k"] == k_max].copy()
    full["match"] = (full["seed"] == best["seed"]).fillna(False).astype(int)
    if "steps_per_task" in full.columns:
        full["match"] += (full["steps_per_task"] == best["steps_per_task"]).fillna(False).astype(int)
    full = full.sort_values(["match", "run_id"], ascending=[False, True])
    return str(full.iloc[0]["run_id"]), str(best["run_id"])


def paired_all_vs_best(inputs: AnalysisInputs, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """(4) The all-task run minus the best single-task run on the same items at the primary endpoint (paired item
    bootstrap), or a row saying why not."""
    pair = all_and_best_single(inputs)
    if pair is None:
        return _refused("needs single-task (k=1) runs and a run with k >= 2")
    table = inputs.primary_items(list(pair))
    if table["run_id"].nunique() < 2:
        return _refused(f"no per-item outcomes (runs/<id>/items.parquet) for runs {pair[0]} and {pair[1]}")
    diff = items.item_difference(table, *pair, n_boot=n_boot, seed=seed, scale=1.0)
    k_a = int(primary_scores(inputs).set_index("run_id").loc[pair[0], "k"])
    return inputs.primary.rows(diff).assign(k_a=k_a)


def worst_language_items(inputs: AnalysisInputs, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """(5) Each task run's worst language at the primary endpoint with an item-bootstrap interval (runs with items)."""
    scores = primary_scores(inputs)
    table = inputs.primary_items(scores["run_id"].tolist())
    if table.empty:
        return _refused("no per-item outcomes (runs/<id>/items.parquet) beside the results table")
    worst = items.item_scores(table, n_boot=n_boot, seed=seed, scale=1.0)
    worst = worst[worst["language"] == "worst"].drop(columns="language")
    return scores[["run_id", "k", "tasks", "seed"]].merge(worst, on="run_id").sort_values(["k", "tasks", "run_id"], ignore_index=True)
