"""Task-count grids: expand a params/*.yaml design into runs and execute them with papermill.

A grid names a model, a pool of English intermediate tasks, its designs (balanced
draws, factorial, nested orders, dose) and controls, the budget policy, the seeds,
the training recipe, the evaluation and its primary endpoint (docs/grid.md).
Each run (one kind × task subset × budget × seed; k = 0 is the untrained baseline) gets a
stable id hashed from its resolved parameters and xit.RESULTS_VERSION, executes the phase notebooks
(01 training unless k = 0 or the encoder cache has it, then 02 retrieval) and
writes everything under ``<output_dir>/runs/<run-id>/``. A run is done when its
``status.json`` says so; done runs are skipped, so a killed grid resumes where it
stopped. All runs' rows end in one tidy table ``<output_dir>/results.parquet``.

Runs are independent, so ``backend: dask`` submits each one as a task to a Dask
distributed cluster (a LocalCluster by default, or a running scheduler).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING
from pathlib import Path

if TYPE_CHECKING:
    import pandas as pd

from xit.grid.backends import run_dask, run_serial
from xit.grid.budget import POLICIES, Budget
from xit.grid.collect import (
    GridSummary,
    build_report_step,
    collect_results,
    collect_training,
    run_analysis,
)
from xit.grid.config import BACKENDS, GridConfig, ResolvedGrid, resolve_grid
from xit.grid.design import (
    balanced_subsets,
    design_subsets,
    factorial_subsets,
    nested_orders,
    subsets_for_k,
)
from xit.grid.execute import RUN_COLUMNS, RunOutcome, execute_run, is_done
from xit.grid.expand import DESIGN_COLUMNS, design_table, expand_design, expand_runs
from xit.grid.kinds import CONTROL_KINDS, RUN_KINDS, RunKind
from xit.grid.runs import RunSpec, encoder_key, recipe_for, run_id, stable_hash
from xit.io import write_json_atomic, write_parquet_atomic


def grid_record(grid: ResolvedGrid) -> dict:
    """What grid.json holds beside results.parquet: the endpoint the analysis reports first, budgets, designs."""
    import xit

    config = grid.config
    return {"name": config.name, "description": config.description, "results_version": xit.RESULTS_VERSION,
            "primary_endpoint": grid.primary_endpoint, "model": config.model, "pool": list(grid.pool),
            "seeds": list(config.seeds), "budgets": [arm.record() for arm in grid.arms],
            "designs": config.designs if grid.new_style else [{"kind": "balanced", "ks": config.ks,
                                                               "subsets_per_k": config.subsets_per_k,
                                                               "seed": config.design_seed}],
            "controls": config.controls or []}


def collect_grid(path: str | Path | GridConfig) -> tuple[pd.DataFrame, int, int]:
    """Collect a grid's finished runs without running any (a study part-way through): its design table, grid.json,
    results.parquet, training records and drift; returns the table and how many of its runs are done."""
    config = path if isinstance(path, GridConfig) else GridConfig.from_yaml(path)
    grid = resolve_grid(config)
    runs, design = expand_design(grid)
    out = grid.output_dir
    out.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(design, out / f"design-{config.name}.parquet")
    write_json_atomic(grid_record(grid), out / "grid.json")
    table = collect_results(runs, out / "results.parquet")
    collect_training(runs, out)
    return table, sum(is_done(r) for r in runs), len(runs)


def run_grid(path: str | Path | GridConfig, backend: str | None = None, workers: int | None = None,
             progress: bool = True) -> GridSummary:
    """Validate a grid file, execute its runs (serial or Dask), collect results.parquet, run the analysis."""
    from tqdm.auto import tqdm

    config = path if isinstance(path, GridConfig) else GridConfig.from_yaml(path)
    config = config.with_overrides(backend=backend, workers=workers)
    grid = resolve_grid(config)  # every bad value fails here, before any run
    runs, design = expand_design(grid)
    out = grid.output_dir
    out.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(design, out / f"design-{config.name}.parquet")
    write_json_atomic(grid_record(grid), out / "grid.json")
    start = time.perf_counter()
    outcomes: list[RunOutcome] = []
    todo = [r for r in runs if not is_done(r)]
    outcomes += [RunOutcome(r.run_id, r.k, r.tasks_label, r.seed, "skipped", 0.0, str(r.run_dir), kind=r.kind)
                 for r in runs if is_done(r)]
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc=f"grid {config.name}", unit="run",
               disable=not progress, file=sys.stderr)

    def report(outcome: RunOutcome) -> None:
        outcomes.append(outcome)
        bar.update(1)
        bar.set_postfix(failed=sum(o.status == "failed" for o in outcomes))
        if outcome.status == "failed":
            bar.write(f"run {outcome.run_id} (k={outcome.k}, {outcome.tasks or 'baseline'}) failed: {outcome.error}")

    try:
        if todo and config.backend == "dask":
            run_dask(todo, config, report)
        else:
            run_serial(todo, report)
    except KeyboardInterrupt:
        bar.close()
        print(f"\ngrid {config.name!r} interrupted after {len(outcomes)} of {len(runs)} runs; "
              f"run it again to finish the remaining runs", file=sys.stderr)
        raise
    bar.close()
    order = {r.run_id: i for i, r in enumerate(runs)}
    outcomes.sort(key=lambda o: order[o.run_id])
    results_path = out / "results.parquet"
    table = collect_results(runs, results_path)
    collect_training(runs, out)
    summary = GridSummary(config.name, out, outcomes, results_path if len(table) else None,
                          seconds=round(time.perf_counter() - start, 2))
    if grid.analysis and len(table):
        summary.analysis = run_analysis(grid, results_path)
    if config.report and len(table):
        summary.analysis.append(build_report_step(grid, results_path))
    summary.seconds = round(time.perf_counter() - start, 2)
    write_parquet_atomic(summary.table(), out / f"summary-{config.name}.parquet")
    print(summary)
    return summary


__all__ = [
    "BACKENDS", "CONTROL_KINDS", "DESIGN_COLUMNS", "POLICIES", "RUN_COLUMNS", "RUN_KINDS", "Budget", "GridConfig",
    "GridSummary", "ResolvedGrid", "RunKind", "RunOutcome", "RunSpec", "balanced_subsets", "collect_grid", "collect_results",
    "design_subsets", "design_table", "encoder_key", "execute_run", "expand_design", "expand_runs",
    "factorial_subsets", "grid_record", "is_done", "nested_orders", "recipe_for", "resolve_grid", "run_grid",
    "run_id", "stable_hash", "subsets_for_k",
]
