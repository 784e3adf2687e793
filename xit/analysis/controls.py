"""Controls (6) and drift (7) at the primary endpoint: each control run beside the task run of the same tasks, seed
and budget; score against the interpolation weight alpha; retrieval against how far training moved the encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xit.analysis import items
from xit.analysis.inputs import AnalysisInputs
from xit.analysis.multiplicity import holm
from xit.analysis.results import control_rows, task_rows
from xit.analysis.stats import MIN_FOR_INTERVAL

#: What makes a control comparable with a task run: the same subset, seed and training amount.
MATCH = ["tasks", "seed", "total_steps", "steps_per_task"]
DRIFT_METRICS = ("param_distance", "cka", "alignment_gap")


def _primary(inputs: AnalysisInputs) -> pd.DataFrame:
    return inputs.primary.rows(inputs.all_scores)


def _matched_task_run(control: pd.Series, tasks: pd.DataFrame) -> pd.Series | None:
    """The task run with the control's subset, seed and budget (the first by run id when several)."""
    mask = pd.Series(True, index=tasks.index)
    for column in MATCH:
        if column in tasks.columns:
            mask &= (tasks[column] == control[column]).fillna(pd.isna(control[column]) & tasks[column].isna())
    found = tasks[mask].sort_values("run_id")
    return None if found.empty else found.iloc[0]


def controls_table(inputs: AnalysisInputs) -> pd.DataFrame:
    """(6) One row per control run at the primary endpoint: its score, the matched task run's, the untrained one's,
    and the differences (points). Single runs: no interval (the note says so)."""
    scores = _primary(inputs)
    controls, tasks = control_rows(scores), task_rows(scores)
    columns = ["kind", "tasks", "seed", "alpha", "budget_policy", "total_steps", "run_id", "score", "task_run", "task_score",
               "control_minus_task", "untrained", "control_minus_untrained", "note"]
    if controls.empty:
        return pd.DataFrame([{"note": "no control runs (shuffled_labels, l2sp, interpolation, mlm) in the results table; "
                                      "add a controls: block to the grid file (docs/grid.md)"}], columns=columns)
    base = float(tasks.loc[tasks["k"] == 0, "score"].mean()) if (tasks["k"] == 0).any() else np.nan
    rows = []
    for _, control in controls.sort_values(["kind", "tasks", "alpha", "run_id"]).iterrows():
        match = _matched_task_run(control, tasks)
        task_score = float(match["score"]) if match is not None else np.nan
        same = controls[(controls["kind"] == control["kind"]) & (controls["tasks"] == control["tasks"])]
        note = "" if match is not None else "no task run with the same tasks, seed and budget"
        if len(same) < 3:
            note = "; ".join(filter(None, [note, f"too few runs (n={len(same)}) for an interval"]))
        rows.append({**{c: control.get(c, np.nan) for c in columns[:6]}, "run_id": control["run_id"],
                     "score": float(control["score"]), "task_run": None if match is None else match["run_id"],
                     "task_score": task_score, "control_minus_task": float(control["score"]) - task_score,
                     "untrained": base, "control_minus_untrained": float(control["score"]) - base, "note": note})
    return pd.DataFrame(rows, columns=columns)


def interpolation_curve(inputs: AnalysisInputs) -> pd.DataFrame:
    """(6) Score against alpha at the primary endpoint for each interpolated source: alpha = 0 is the untrained
    encoder, alpha = 1 the task run itself, the interpolation runs in between."""
    scores = _primary(inputs)
    interpolated = scores[scores["kind"] == "interpolation"] if "kind" in scores.columns else scores.iloc[:0]
    tasks = task_rows(scores)
    base = tasks[tasks["k"] == 0]
    rows = []
    for _, run in interpolated.iterrows():
        source = _matched_task_run(run, tasks)
        where = {"source": f"{run['tasks']} seed {run['seed']}", "tasks": run["tasks"], "seed": run["seed"]}
        rows.append({**where, "alpha": float(run["alpha"]), "score": float(run["score"]), "run_id": run["run_id"]})
        if source is not None:
            rows.append({**where, "alpha": 1.0, "score": float(source["score"]), "run_id": source["run_id"]})
        if not base.empty:
            rows.append({**where, "alpha": 0.0, "score": float(base["score"].iloc[0]), "run_id": base["run_id"].iloc[0]})
    if not rows:
        return pd.DataFrame(columns=["source", "tasks", "seed", "alpha", "score", "run_id"])
    return pd.DataFrame(rows).drop_duplicates(["source", "alpha"]).sort_values(["source", "alpha"], ignore_index=True)


def interpolation_summary(curve: pd.DataFrame) -> pd.DataFrame:
    """Per interpolated task set: the score at each alpha (mean over seeds), the alpha with the best mean, and in how
    many seeds some alpha strictly between 0 and 1 beats both ends (part of the way better than all or none of it)."""
    columns = ["tasks", "seeds", "best_alpha", "seeds_with_both_ends_complete", "seeds_interior_beats_both_ends"]
    if "tasks" not in curve.columns or curve.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for tasks, group in curve.dropna(subset=["tasks"]).groupby("tasks", sort=True):
        by_seed = [g for _, g in group.groupby("seed") if set(g["alpha"]) >= {0.0, 1.0} and len(g) > 2]
        means = group.groupby("alpha")["score"].mean()
        ends = [g["alpha"].isin([0.0, 1.0]) for g in by_seed]
        above = sum(bool(g.loc[~end, "score"].max() > g.loc[end, "score"].max()) for g, end in zip(by_seed, ends))
        rows.append({"tasks": tasks, "seeds": int(group["seed"].nunique()), **{f"α={a:g}": s for a, s in means.items()},
                     "best_alpha": float(means.idxmax()), "seeds_with_both_ends_complete": len(by_seed),
                     "seeds_interior_beats_both_ends": above})
    return pd.DataFrame(rows)


def interior_peaks(inputs: AnalysisInputs, curve: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per-seed curves where some alpha strictly between 0 and 1 beats both ends: that run minus the better end on the
    same items (paired item-bootstrap interval, p, Holm over the peaks), so a peak is read against item noise."""
    columns = ["tasks", "seed", "alpha", "run_id", "end_alpha", "end_run", "difference", "ci_low", "ci_high", "p_value",
               "p_holm", "within_noise"]
    rows = []
    for (tasks, run_seed), group in curve.dropna(subset=["tasks"]).groupby(["tasks", "seed"], sort=True):
        end = group["alpha"].isin([0.0, 1.0])
        if set(group.loc[end, "alpha"]) != {0.0, 1.0} or end.all():
            continue
        peak, best_end = group[~end].loc[group.loc[~end, "score"].idxmax()], group[end].loc[group.loc[end, "score"].idxmax()]
        if peak["score"] <= best_end["score"]:
            continue
        paired = _primary_item_difference(inputs, peak["run_id"], best_end["run_id"], n_boot, seed)
        rows.append({"tasks": tasks, "seed": run_seed, "alpha": peak["alpha"], "run_id": peak["run_id"],
                     "end_alpha": best_end["alpha"], "end_run": best_end["run_id"],
                     "difference": float(peak["score"] - best_end["score"]), **paired})
    table = pd.DataFrame(rows, columns=[c for c in columns if c not in ("p_holm", "within_noise")])
    table["p_holm"] = holm(table["p_value"]) if len(table) else pd.Series(dtype=float)
    return table.assign(within_noise=(table["ci_low"] <= 0) & (table["ci_high"] >= 0))[columns]


def drift_table(inputs: AnalysisInputs) -> pd.DataFrame:
    """(7) One row per run with drift rows: its primary score and each drift metric at the deepest drift layer
    (languages averaged where a metric is per language)."""
    drift = inputs.drift()
    if drift.empty:
        return pd.DataFrame([{"note": "no drift.parquet beside the results table (the grid writes it when notebook 02 "
                                      "runs with base_model)"}])
    layer = int(drift["layer"].max())
    at = drift[(drift["layer"] == layer) & (drift["language"] == "all")] if "language" in drift else drift[drift["layer"] == layer]
    wide = at.pivot_table(index="run_id", columns="metric", values="value", aggfunc="mean").reset_index()
    wide.columns.name = None
    scores = drift_scores(inputs).rename(columns={"value": "score"}).merge(_primary(inputs)[["run_id", "tasks"]], on="run_id")
    table = scores.merge(wide, on="run_id", how="inner").assign(drift_layer=layer)
    return table.sort_values(["k", "kind", "tasks", "run_id"], ignore_index=True)


#: The drift metrics the answer relates to the primary score, in the order it names them.
DRIFT_METRICS = ("cka", "alignment_gap", "param_distance")


def drift_association(drift: pd.DataFrame) -> pd.DataFrame:
    """Per drift metric: Spearman's rho between it and the primary score over the trained task runs, with its p."""
    from scipy import stats

    runs = drift[drift["kind"] == "task"] if "kind" in drift.columns else drift.iloc[:0]
    rows = []
    for metric in DRIFT_METRICS:
        pairs = runs[["score", metric]].dropna() if metric in runs.columns else runs.iloc[:0]
        rho, p = stats.spearmanr(pairs["score"], pairs[metric]) if len(pairs) >= MIN_FOR_INTERVAL else (np.nan, np.nan)
        rows.append({"metric": metric, "n_runs": len(pairs), "spearman_rho": float(rho), "p_value": float(p),
                     "median": float(pairs[metric].median()) if len(pairs) else np.nan})
    return pd.DataFrame(rows)


def drift_scores(inputs: AnalysisInputs) -> pd.DataFrame:
    """Primary-endpoint scores as figures.drift_scatter wants them (run_id, k, kind, value)."""
    scores = _primary(inputs)
    kind = scores["kind"] if "kind" in scores.columns else "task"
    return scores.assign(kind=kind)[["run_id", "k", "kind", "score"]].rename(columns={"score": "value"})


def _budget_peers(run: pd.Series, tasks: pd.DataFrame) -> pd.DataFrame:
    """Trained task runs with the run's seed and total optimizer steps (an MLM run's budget-matched English runs)."""
    same = (tasks["k"] > 0) & (tasks["seed"] == run["seed"]) & (tasks["total_steps"] == run["total_steps"])
    return tasks[same.fillna(False)]


def mlm_comparison(inputs: AnalysisInputs, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """(6) English task runs against continued multilingual MLM at the same seed and steps: per target, task minus
    MLM; at the primary endpoint (language 'mean') the paired per-item difference with its item-bootstrap interval."""
    columns = ["total_steps", "seed", "task_tasks", "task_run", "mlm_run", "target", "direction", "metric", "task", "mlm",
               "task_minus_mlm", "primary", "ci_low", "ci_high", "p_value"]
    scores = inputs.all_scores[inputs.all_scores["layer"] == inputs.layer]
    if "kind" not in scores.columns or not (scores["kind"] == "mlm").any():
        return pd.DataFrame(columns=columns)
    runs = scores.drop_duplicates("run_id")
    tasks = task_rows(runs)
    rows = []
    for _, mlm in runs[runs["kind"] == "mlm"].sort_values("run_id").iterrows():
        for _, peer in _budget_peers(mlm, tasks).sort_values("run_id").iterrows():
            both = scores[scores["run_id"] == peer["run_id"]].merge(
                scores[scores["run_id"] == mlm["run_id"]], on=["target", "direction", "metric"], suffixes=("_task", "_mlm"))
            paired = _primary_item_difference(inputs, peer["run_id"], mlm["run_id"], n_boot, seed)
            for _, row in both.iterrows():
                primary = (row["target"], row["direction"]) == (inputs.primary.target, inputs.primary.direction)
                rows.append({"total_steps": mlm["total_steps"], "seed": mlm["seed"], "task_tasks": peer["tasks"],
                             "task_run": peer["run_id"], "mlm_run": mlm["run_id"], "target": row["target"],
                             "direction": row["direction"], "metric": row["metric"], "task": row["score_task"],
                             "mlm": row["score_mlm"], "task_minus_mlm": row["score_task"] - row["score_mlm"],
                             "primary": primary, **(paired if primary else {})})
    return pd.DataFrame(rows, columns=columns).sort_values(["total_steps", "task_tasks", "seed", "target", "direction"],
                                                            ignore_index=True)


def _primary_item_difference(inputs: AnalysisInputs, task_run: str, mlm_run: str, n_boot: int, seed: int) -> dict:
    """Task run minus MLM run on the primary endpoint's items (language mean): interval and p, or NaN without items."""
    table = inputs.primary_items([task_run, mlm_run])
    if table["run_id"].nunique() < 2:
        return {"ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
    diff = inputs.primary.rows(items.item_difference(table, task_run, mlm_run, n_boot=n_boot, seed=seed, scale=1.0))
    mean = diff[diff["language"] == "mean"].iloc[0]
    return {"ci_low": float(mean["ci_low"]), "ci_high": float(mean["ci_high"]), "p_value": float(mean["p_value"])}


def mlm_verdict(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per budget and task set at the primary endpoint, with two or more seeds: 'beat' / 'trail' when every seed's
    item interval lies above / below 0, 'match' when every interval covers 0, else 'mixed'; with the mean over seeds."""
    primary = comparison[comparison["primary"].astype(bool)] if len(comparison) else comparison
    rows = []
    for (steps, tasks), group in primary.groupby(["total_steps", "task_tasks"], sort=True):
        above, below = (group["ci_low"] > 0).all(), (group["ci_high"] < 0).all()
        covers = ((group["ci_low"] <= 0) & (group["ci_high"] >= 0)).all()
        verdict = "beat" if above else "trail" if below else "match" if covers else "mixed"
        if len(group) < 2:  # one seed pair: an item interval, but nothing yet on whether the sign repeats
            verdict = "needs a second seed"
        rows.append({"total_steps": steps, "task_tasks": tasks, "seeds": len(group),
                     "mean_task_minus_mlm": float(group["task_minus_mlm"].mean()),
                     "per_seed": ", ".join(f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]" for d, lo, hi in
                                           zip(group["task_minus_mlm"], group["ci_low"], group["ci_high"])),
                     "english_tasks": verdict if group["ci_low"].notna().all() else "no per-item outcomes"})
    return pd.DataFrame(rows, columns=["total_steps", "task_tasks", "seeds", "mean_task_minus_mlm", "per_seed", "english_tasks"])
