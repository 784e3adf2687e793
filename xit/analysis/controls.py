"""Controls (6) and drift (7) at the primary endpoint: each control run beside the task run of the same tasks, seed
and budget; score against the interpolation weight alpha; retrieval against how far training moved the encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xit.analysis.inputs import AnalysisInputs
from xit.analysis.results import control_rows, task_rows

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
        label = f"{run['tasks']} seed {run['seed']}"
        rows.append({"source": label, "alpha": float(run["alpha"]), "score": float(run["score"]), "run_id": run["run_id"]})
        if source is not None:
            rows.append({"source": label, "alpha": 1.0, "score": float(source["score"]), "run_id": source["run_id"]})
        if not base.empty:
            rows.append({"source": label, "alpha": 0.0, "score": float(base["score"].iloc[0]), "run_id": base["run_id"].iloc[0]})
    if not rows:
        return pd.DataFrame(columns=["source", "alpha", "score", "run_id"])
    return pd.DataFrame(rows).drop_duplicates(["source", "alpha"]).sort_values(["source", "alpha"], ignore_index=True)


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


def drift_scores(inputs: AnalysisInputs) -> pd.DataFrame:
    """Primary-endpoint scores as figures.drift_scatter wants them (run_id, k, kind, value)."""
    scores = _primary(inputs)
    kind = scores["kind"] if "kind" in scores.columns else "task"
    return scores.assign(kind=kind)[["run_id", "k", "kind", "score"]].rename(columns={"score": "value"})
