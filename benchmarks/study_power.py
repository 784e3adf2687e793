"""How many seeds the study needs: seed noise measured by its pilot, and the effects that noise lets it detect.

    XIT_DATA_DIR=... PYTHONPATH=. python benchmarks/study_power.py     # the pilot's finished runs in results/study

The pilot (params/study-pilot.yaml) trains each factorial singleton with three seeds at exactly the study's
recipe and evaluation. Its runs give the seed-to-seed standard deviation of the primary endpoint (the grid's
primary_endpoint, mean over languages), pooled within task, with a 95% chi-square interval. For the study's
design (params/study.yaml's task runs, with 1 to 4 seeds) the script then prints, from the design matrix of
xit.analysis.effects.task_design and that SD: the residual df, the standard error of the log2(k) coefficient
beyond the additive task model, and the smallest k effect per doubling of k that a two-sided 5% test finds with
80% power (2.80 standard errors); the same for one task's effect and for a trained run against the untrained
baseline. The upper end of the SD interval gives the conservative column.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pandas as pd
from scipy import stats

from xit.analysis.effects import task_design
from xit.analysis.inputs import primary_endpoint
from xit.analysis.results import run_scores
from xit.grid import GridConfig, expand_design, resolve_grid
from xit.grid.execute import is_done

#: z(0.975) + z(0.80): an effect this many standard errors large is found 80% of the time at 5% two-sided.
DETECTABLE = float(stats.norm.ppf(0.975) + stats.norm.ppf(0.80))


def pilot_results(grid_file: str) -> tuple[pd.DataFrame, dict]:
    """The rows of the pilot's finished runs (whether or not the grid has finished and collected), and its grid fields."""
    config = GridConfig.from_yaml(grid_file)
    runs, _ = expand_design(resolve_grid(config))
    finished = [spec for spec in runs if is_done(spec)]
    done = [pd.read_parquet(spec.run_dir / "results.parquet") for spec in finished]
    if not done:
        raise SystemExit(f"no finished run of {grid_file} yet; run `python -m xit run {grid_file}` first")
    print(f"{grid_file}: {len(done)} of {len(runs)} runs finished")
    return pd.concat(done, ignore_index=True), {"primary_endpoint": config.primary_endpoint}


def pilot_costs(grid_file: str) -> pd.DataFrame:
    """Wall seconds of each finished pilot run, from its status.json."""
    config = GridConfig.from_yaml(grid_file)
    runs, _ = expand_design(resolve_grid(config))
    rows = []
    for spec in runs:
        if is_done(spec):
            status = json.loads((spec.run_dir / "status.json").read_text(encoding="utf-8"))
            rows.append({"run_id": spec.run_id, "tasks": spec.tasks_label or "(untrained)", "seed": spec.seed,
                         "seconds": float(status["seconds"])})
    return pd.DataFrame(rows)


def study_cost(costs: pd.DataFrame, grid_file: str, workers: int) -> str:
    """The study's projected wall time: trained runs at the pilot's mean trained-run cost, others at the baseline's."""
    runs, _ = expand_design(resolve_grid(GridConfig.from_yaml(grid_file)))
    trained = costs.loc[costs["tasks"] != "(untrained)", "seconds"].mean()
    untrained = costs.loc[costs["tasks"] == "(untrained)", "seconds"].mean()
    n_trained = sum(r.trains_own_recipe for r in runs)
    hours = (n_trained * trained + (len(runs) - n_trained) * untrained) / workers / 3600
    return (f"{len(runs)} runs ({n_trained} trained at {trained:.0f} s, {len(runs) - n_trained} evaluation-only at "
            f"{untrained:.0f} s) on {workers} workers: about {hours:.1f} hours")


def pilot_noise(results: pd.DataFrame, grid: dict) -> tuple[pd.DataFrame, float, int]:
    """Per task: the primary endpoint per seed and its SD; and the SD pooled within task with its df."""
    endpoint = primary_endpoint(results, grid)
    scores = run_scores(results, layer=endpoint.layer)
    scores = scores[(scores["target"] == endpoint.target) & (scores["direction"] == endpoint.direction)]
    trained = scores[scores["k"] == 1]
    per_task = trained.pivot_table(index="tasks", columns="seed", values="score")
    ss = ((per_task.sub(per_task.mean(axis=1), axis=0)) ** 2).sum().sum()
    df = int(per_task.notna().sum(axis=1).sub(1).clip(lower=0).sum())
    if df < 1:
        raise SystemExit("the seed SD needs two finished seeds of at least one task; let the pilot run on")
    per_task["sd"] = per_task.std(axis=1, ddof=1)
    baseline = scores.loc[scores["k"] == 0, "score"]
    per_task["minus untrained"] = per_task.drop(columns="sd").mean(axis=1) - (baseline.iloc[0] if len(baseline) else np.nan)
    return per_task, float(np.sqrt(ss / df)), df


def study_runs(grid_file: str, seeds: int) -> pd.DataFrame:
    """The study's task runs (kind task, k >= 1) with the given number of seeds: run_id, k, tasks, steps_per_task."""
    config = dataclasses.replace(GridConfig.from_yaml(grid_file), seeds=list(range(seeds)))
    runs, _ = expand_design(resolve_grid(config))
    return pd.DataFrame([{"run_id": r.run_id, "k": r.k, "tasks": r.tasks_label, "seed": r.seed,
                          "steps_per_task": r.steps_per_task} for r in runs if r.kind == "task" and r.k >= 1])


def standard_errors(runs: pd.DataFrame, sd: float) -> dict[str, float]:
    """Residual df and the standard errors (at seed SD ``sd``) of the log2(k) term and of the mean task effect."""
    design = task_design(runs)
    x = design.full
    inverse = np.linalg.pinv(x.T @ x)
    task_columns = [design.names.index(t) for t in design.tasks]
    return {"runs": len(runs), "residual df": len(runs) - np.linalg.matrix_rank(x),
            "se log2(k)": sd * float(np.sqrt(inverse[-1, -1])),
            "se task effect": sd * float(np.mean([np.sqrt(inverse[j, j]) for j in task_columns]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilot", default="params/study-pilot.yaml")
    parser.add_argument("--study", default="params/study.yaml")
    args = parser.parse_args()
    results, grid = pilot_results(args.pilot)
    costs = pilot_costs(args.pilot)
    print(costs.round(0).to_markdown(index=False))
    print("study at the pilot's cost per run:", study_cost(costs, args.study, GridConfig.from_yaml(args.pilot).workers))
    per_task, sd, df = pilot_noise(results, grid)
    low, high = (sd * np.sqrt(df / stats.chi2.ppf(q, df)) for q in (0.975, 0.025))
    print(f"primary endpoint {primary_endpoint(results, grid).label}: pilot scores per task and seed")
    print(per_task.round(2).to_markdown())
    print(f"\nseed SD pooled within task: {sd:.2f} points (df {df}; 95% interval {low:.2f} to {high:.2f})")
    rows = []
    for seeds in (1, 2, 3, 4):
        runs = study_runs(args.study, seeds)
        se = standard_errors(runs, sd)
        se_high = standard_errors(runs, high)
        # trained vs untrained: the mean of a task's seeds minus the one (deterministic) untrained score
        rows.append({"seeds": seeds, **{k: se[k] for k in ("runs", "residual df")},
                     "detectable k effect per doubling": DETECTABLE * se["se log2(k)"],
                     "same at SD upper bound": DETECTABLE * se_high["se log2(k)"],
                     "detectable task effect": DETECTABLE * se["se task effect"],
                     "detectable singleton vs untrained": DETECTABLE * sd / np.sqrt(seeds)})
    print("\nstudy design (params/study.yaml task runs), 80% power at 5% two-sided, in points of the endpoint:")
    print(pd.DataFrame(rows).round(2).to_markdown(index=False))


if __name__ == "__main__":
    main()
