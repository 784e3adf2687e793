"""After the runs: one results table, the training records, the analysis notebooks and the HTML report."""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xit.grid.config import ResolvedGrid
from xit.grid.execute import (
    RUN_COLUMNS,
    RUN_DTYPES,
    TRAIN_SUMMARY,
    RunOutcome,
    execute_notebook,
    is_done,
    short_error,
    stamp_results,
)
from xit.grid.runs import RunSpec
from xit.io import write_parquet_atomic


@dataclass
class GridSummary:
    """The outcome of a grid: one row per run, the collected results, analysis notebooks run after."""

    name: str
    output_dir: Path
    outcomes: list[RunOutcome]
    results_path: Path | None
    analysis: list[RunOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no run and no analysis notebook failed."""
        return not self.failed and all(a.status != "failed" for a in self.analysis)

    @property
    def done(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "done"]

    @property
    def skipped(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def table(self) -> pd.DataFrame:
        """One row per run (and per analysis notebook): status, seconds, path, error."""
        rows = [dataclasses.asdict(o) for o in self.outcomes + self.analysis]
        table = pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(RunOutcome)])
        table["seed"] = pd.array(table["seed"].tolist(), dtype="Int64")
        return table

    def __str__(self) -> str:
        lines = [
            f"grid {self.name!r}: {len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed "
            f"of {len(self.outcomes)} runs in {self.seconds:.1f} s",
            f"results: {self.results_path}" if self.results_path else "results: none collected",
        ]
        if self.outcomes:
            cols = ["status", "run_id", "kind", "k", "tasks", "seed", "seconds", "path"]
            lines.append(self.table().iloc[: len(self.outcomes)][cols].to_string(index=False))
        for o in self.failed + [a for a in self.analysis if a.status == "failed"]:
            lines.append(f"FAILED {o.run_id}: {o.error}  (see {Path(o.path) / 'error.txt'})")
        for a in self.analysis:
            if a.status != "failed":
                lines.append(f"analysis {a.run_id}: {a.status} ({a.path})")
        return "\n".join(lines)



def collect_results(runs: list[RunSpec], path: Path) -> pd.DataFrame:
    """Every done run's rows, each run exactly once, in design order; written atomically to path."""
    frames = [pd.read_parquet(spec.run_dir / "results.parquet") for spec in runs if is_done(spec)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    table = pd.concat(frames, ignore_index=True)
    for name, dtype in RUN_DTYPES.items():
        table[name] = table[name].astype(dtype)
    write_parquet_atomic(table, path)
    return table



def collect_training(runs: list[RunSpec], output_dir: Path) -> None:
    """The trained runs' dev metrics, training logs and realised steps per task, stamped with run columns."""
    trained = [spec for spec in runs if spec.trains_own_recipe and is_done(spec)]
    for name in ("dev_metrics.parquet", "train_log.parquet"):
        frames = [stamp_results(spec, pd.read_parquet(spec.run_dir / name)) for spec in trained
                  if (spec.run_dir / name).is_file()]
        if frames:
            write_parquet_atomic(pd.concat(frames, ignore_index=True), output_dir / name)
    frames = [steps_per_task(spec) for spec in trained if (spec.run_dir / TRAIN_SUMMARY).is_file()]
    if frames:
        write_parquet_atomic(pd.concat(frames, ignore_index=True), output_dir / "training_steps.parquet")
    # Drift rows are stamped per run (execute.stamp_run_outputs); derived runs (interpolation) have their own.
    frames = [pd.read_parquet(spec.run_dir / "drift.parquet") for spec in runs
              if is_done(spec) and (spec.run_dir / "drift.parquet").is_file()]
    if frames:
        write_parquet_atomic(pd.concat(frames, ignore_index=True), output_dir / "drift.parquet")



def steps_per_task(spec: RunSpec) -> pd.DataFrame:
    """One row per task of a trained run: realised steps (and share, sampler probability) from its train_summary.json."""
    summary = json.loads((spec.run_dir / TRAIN_SUMMARY).read_text(encoding="utf-8"))
    mix = pd.DataFrame(summary["task_mix"])
    mix["realised_total_steps"] = int(summary["steps"])
    return stamp_results(spec, mix.rename(columns={"steps": "realised_steps"}))



def run_analysis(grid: ResolvedGrid, results_path: Path) -> list[RunOutcome]:
    """Execute the grid's analysis notebooks on the collected results (a failure is reported, not raised)."""
    out_dir = grid.output_dir / grid.config.analysis_dir
    outcomes = []
    for notebook in grid.analysis:
        start = time.perf_counter()
        executed = out_dir / notebook.name
        out_dir.mkdir(parents=True, exist_ok=True)
        status, error = "done", ""
        try:
            execute_notebook(notebook, executed, {"results_path": str(results_path), "output_dir": str(out_dir)},
                              grid.config.cell_timeout)
        except Exception as err:
            status, error = "failed", short_error(err)
            (out_dir / f"{notebook.stem}.error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        outcomes.append(RunOutcome(notebook.stem, -1, "", None, status, round(time.perf_counter() - start, 2),
                                   str(executed), error=error))
    return outcomes



def build_report_step(grid: ResolvedGrid, results_path: Path) -> RunOutcome:
    """The HTML report of the collected results (a failure is reported, not raised)."""
    from xit.analysis.report import build_report

    start = time.perf_counter()
    out_dir = grid.output_dir / grid.config.analysis_dir
    status, error, path = "done", "", out_dir / "index.html"
    try:
        path = build_report(results_path, out_dir, timeout=grid.config.cell_timeout)
    except Exception as err:
        status, error = "failed", short_error(err)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.error.txt").write_text(traceback.format_exc(), encoding="utf-8")
    return RunOutcome("report", -1, "", None, status, round(time.perf_counter() - start, 2), str(path), error=error)
