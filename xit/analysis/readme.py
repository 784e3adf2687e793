"""The README's answer section: written by code from a committed results table, checked by a test against the README.

    python -m xit answer results/study/results.parquet             # rewrite README.md's answer section
    python -m xit answer results/study/results.parquet --check     # exit 1 when the section is stale

The section sits between two HTML comments (ANSWER_START, ANSWER_END). Every number in it comes from the table:
the primary endpoint per trained condition against the untrained encoder, the report's answer paragraph
(xit.analysis.answer) and the continued-MLM verdicts (xit.analysis.controls).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from xit.analysis import answer, controls
from xit.analysis.inputs import AnalysisInputs, load_analysis
from xit.errors import XitConfigError

ANSWER_START = "<!-- answer:start (written by `python -m xit answer`; do not edit by hand) -->"
ANSWER_END = "<!-- answer:end -->"


def condition_table(inputs: AnalysisInputs) -> pd.DataFrame:
    """The primary endpoint per trained condition (kind, tasks, steps): seeds, mean, range, and minus untrained."""
    scores = inputs.primary.rows(inputs.all_scores)
    base = scores.loc[scores["k"] == 0, "score"]
    untrained = float(base.mean()) if len(base) else float("nan")
    trained = scores[scores["k"] > 0]
    trained = trained.assign(kind=trained["kind"] if "kind" in trained else "task",
                             total_steps=trained["total_steps"] if "total_steps" in trained else pd.NA)
    if "alpha" in trained:  # each interpolation weight is its own condition, never averaged with the others
        alpha = trained["alpha"].map(lambda a: "" if pd.isna(a) else f" α={a:g}")
        trained = trained.assign(kind=trained["kind"].astype(str) + alpha)
    keys = ["kind", "tasks", "total_steps"]
    table = trained.groupby(keys, dropna=False, sort=True)["score"].agg(seeds="size", mean="mean", low="min", high="max")
    table = table.reset_index()
    table["minus_untrained"] = table["mean"] - untrained
    table["range"] = [f"{lo:.1f}–{hi:.1f}" if n > 1 else "" for n, lo, hi in zip(table["seeds"], table["low"], table["high"])]
    first = pd.DataFrame([{"kind": "none", "tasks": "(untrained)", "total_steps": pd.NA, "seeds": len(base),
                           "mean": untrained, "range": "", "minus_untrained": 0.0}])
    return pd.concat([first, table.drop(columns=["low", "high"])], ignore_index=True)


def _markdown(table: pd.DataFrame) -> str:
    shown = table.assign(total_steps=table["total_steps"].map(lambda v: "" if pd.isna(v) else str(int(v))),
                         mean=table["mean"].map(lambda v: f"{v:.1f}"),
                         minus_untrained=table["minus_untrained"].map(lambda v: f"{v:+.1f}"))
    shown = shown[["kind", "tasks", "total_steps", "seeds", "mean", "range", "minus_untrained"]]
    return shown.rename(columns={"total_steps": "steps", "minus_untrained": "minus untrained"}).to_markdown(index=False)


def planned_runs(inputs: AnalysisInputs) -> int | None:
    """How many runs the grid's design table (design-<name>.parquet beside the results) plans; None without it."""
    path = inputs.folder / f"design-{inputs.grid().get('name', '')}.parquet"
    return int(pd.read_parquet(path, columns=["run_id"])["run_id"].nunique()) if path.is_file() else None


def cost_sentence(inputs: AnalysisInputs) -> str:
    """What the table's runs cost, from each run's status.json beside it (wall seconds of the whole run)."""
    seconds = []
    for run_id in sorted(inputs.all_results["run_id"].unique()):
        status = inputs.folder / "runs" / str(run_id) / "status.json"
        if status.is_file():
            seconds.append(float(json.loads(status.read_text(encoding="utf-8")).get("seconds", float("nan"))))
    timed = pd.Series(seconds, dtype=float).dropna()
    if timed.empty:
        return ""
    return (f"Their run time, training through evaluation, adds up to {timed.sum() / 3600:.1f} hours on 2-core machines "
            f"({timed.min():,.0f}–{timed.max():,.0f} s per run, median {timed.median():,.0f} s; from each run's status.json).")


def answer_section(results_path: str | Path, analysis_dir: str | Path, n_boot: int = 2000, n_perm: int = 999,
                   seed: int = 0) -> str:
    """The section's markdown, from the table at results_path (the analysis writes its scratch files to analysis_dir)."""
    inputs = load_analysis(results_path, analysis_dir)
    found = answer.compute_findings(inputs, n_boot=n_boot, n_perm=n_perm, seed=seed, worst_items=False)
    return section_text(inputs, found, results_path)


def section_text(inputs: AnalysisInputs, found: answer.Findings, results_path: str | Path) -> str:
    """The section's markdown from computed findings: setup line, conditions table, answer paragraph, MLM verdicts."""
    runs = inputs.all_results["run_id"].nunique()
    planned_count = planned_runs(inputs)
    planned = f" of the {planned_count} planned" if planned_count else ""
    mlm = controls.mlm_verdict(found.mlm)
    parts = [
        f"*From `{Path(results_path).as_posix()}`: {runs}{planned} study runs, model "
        f"{inputs.grid().get('model') or inputs.all_results.loc[inputs.all_results['k'] == 0, 'model'].iloc[0]}, primary endpoint "
        f"{found.primary_label}.* " + cost_sentence(inputs),
        "",
        "Primary endpoint per trained condition (mean over seeds; range over seeds where there are two or more):",
        "",
        _markdown(condition_table(inputs)),
        "",
        answer.answer_summary(found),
    ]
    if len(mlm):
        parts += ["", "English task runs against continued multilingual MLM at equal steps (task − MLM on the primary "
                  "endpoint; per seed: difference [95% paired item-bootstrap interval]):", "",
                  mlm.assign(mean_task_minus_mlm=mlm["mean_task_minus_mlm"].map(lambda v: f"{v:+.1f}"))
                  .rename(columns={"total_steps": "steps", "task_tasks": "English tasks", "mean_task_minus_mlm": "mean",
                                   "english_tasks": "verdict"}).to_markdown(index=False)]
    curve = controls.interpolation_summary(found.interpolation)
    if len(curve):
        shown = curve.drop(columns=["seeds_with_both_ends_complete", "seeds_interior_beats_both_ends"])
        shown = shown.assign(best_alpha=shown["best_alpha"].map(lambda a: f"{a:g}"))  # 0.25 must not print as 0.2
        parts += ["", "Weight interpolation between the untrained encoder (α = 0) and the trained task run (α = 1) on the "
                  "primary endpoint (mean over seeds):", "",
                  shown.rename(columns={"best_alpha": "best α"}).to_markdown(index=False, floatfmt=".1f")]
    return "\n".join(parts)


def replace_section(text: str, section: str) -> str:
    """The README text with the block between the markers replaced by section."""
    if ANSWER_START not in text or ANSWER_END not in text:
        raise XitConfigError(f"the README has no answer block; add the two lines {ANSWER_START!r} and {ANSWER_END!r} "
                             "where the answer belongs")
    head, rest = text.split(ANSWER_START, 1)
    _, tail = rest.split(ANSWER_END, 1)
    return f"{head}{ANSWER_START}\n{section}\n{ANSWER_END}{tail}"


def current_section(text: str) -> str:
    """The README's block between the markers, as written."""
    replace_section(text, "")  # the same error when a marker is missing
    return text.split(ANSWER_START, 1)[1].split(ANSWER_END, 1)[0].strip("\n")
