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
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from xit.analysis.effects import task_design
from xit.analysis.inputs import primary_endpoint
from xit.analysis.results import run_scores
from xit.grid import GridConfig, expand_design, resolve_grid
from xit.grid.execute import is_done
from xit.grid.runs import RunSpec
from xit.tasks import get_task

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


def finished_costs(output_dir: Path) -> pd.DataFrame:
    """Every finished run under a study folder: its kind, tasks, steps, wall seconds and training seconds."""
    rows = []
    for status_file in sorted(output_dir.glob("runs/*/status.json")):
        status = json.loads(status_file.read_text(encoding="utf-8"))
        if status.get("status") != "done":
            continue
        params = status["params"]
        summary = status_file.parent / "train_summary.json"
        train_seconds = json.loads(summary.read_text(encoding="utf-8"))["seconds"] if summary.exists() else 0.0
        rows.append({"run_id": params["run_id"], "kind": params["kind"], "tasks": "+".join(params["tasks"]) or "(untrained)",
                     "seed": params["seed"], "steps": params.get("total_steps"), "seconds": float(status["seconds"]),
                     "train seconds": float(train_seconds)})
    return pd.DataFrame(rows)


def step_rates(costs: pd.DataFrame) -> dict[str, float]:
    """Training seconds per optimizer step of each measured single-task (and MLM) recipe, from finished k = 1 runs."""
    single = costs[(costs["steps"] > 0) & ~costs["tasks"].str.contains("\\+", regex=True)]
    single = single.assign(key=np.where(single["kind"] == "mlm", "mlm", single["tasks"]),
                           rate=single["train seconds"] / single["steps"])
    return single[single["kind"].isin(["task", "mlm"])].groupby("key")["rate"].mean().to_dict()


def task_rate(task: str, rates: dict[str, float]) -> float:
    """A task's seconds per step: measured where the pilot trained it, else its head type's measured task
    (multiple choice scaled by its number of choices, since each choice is one encoded sequence)."""
    if task in rates:
        return rates[task]
    spec = get_task(task)
    by_head = {"classification": "anli", "regression": "anli", "span": "squad_v1", "tagging": "ccg", "ner": "ccg",
               "multiple_choice": "hellaswag"}
    rate = rates[by_head[spec.head]]
    return rate * spec.num_choices / 4 if spec.head == "multiple_choice" else rate


def run_cost(spec: RunSpec, rates: dict[str, float], evaluation: float, baseline: float) -> float:
    """Projected wall seconds of one run on one worker: evaluation (and drift) plus its steps at the measured rates."""
    if spec.kind == "none":
        return baseline
    if not spec.trains_own_recipe:
        return evaluation
    if spec.kind == "mlm":
        return evaluation + spec.total_steps * rates.get("mlm", np.nan)
    per_task = spec.total_steps / spec.k
    return evaluation + sum(per_task * task_rate(t, rates) for t in spec.tasks)


def study_cost(costs: pd.DataFrame, grid_file: str, workers: int) -> pd.DataFrame:
    """The study's projected hours per design and kind, from the finished runs' step rates and evaluation time."""
    runs, design = expand_design(resolve_grid(GridConfig.from_yaml(grid_file)))
    rates = step_rates(costs)
    trained = costs[costs["train seconds"] > 0]
    evaluation = float((trained["seconds"] - trained["train seconds"]).mean())
    baseline = float(costs.loc[costs["kind"] == "none", "seconds"].mean())
    done = set(costs["run_id"])
    first = design.drop_duplicates("run_id").set_index("run_id")["design"]
    rows = [{"design": first[r.run_id], "kind": r.kind, "done": r.run_id in done,
             "hours": run_cost(r, rates, evaluation, baseline) / 3600} for r in runs]
    table = pd.DataFrame(rows)
    # min_count=1: a kind with no measured rate yet (MLM before its first run) shows NaN, not 0 hours.
    left = table["hours"].where(~table["done"], 0.0)
    out = table.assign(left=left).groupby(["design", "kind"], sort=False).agg(
        runs=("hours", "size"), done=("done", "sum"), core_hours=("hours", lambda h: h.sum(min_count=1)),
        core_hours_left=("left", lambda h: h.sum(min_count=1)))
    out.loc[("all", ""), :] = [out["runs"].sum(), out["done"].sum(), out["core_hours"].sum(min_count=len(out)),
                               out["core_hours_left"].sum(min_count=len(out))]
    out[f"wall_hours_left on {workers} workers"] = out["core_hours_left"] / workers
    print("seconds per step (one worker of two):", {k: round(v, 2) for k, v in rates.items()},
          f"| evaluation + drift per trained run: {evaluation:.0f} s | untrained baseline: {baseline:.0f} s")
    return out.reset_index()


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
    study = GridConfig.from_yaml(args.study)
    costs = finished_costs(Path(study.output_dir))
    print(costs.round(0).to_markdown(index=False))
    print("\nthe study's projected cost, per design and kind (MLM at its measured rate once an MLM run has finished):")
    print(study_cost(costs, args.study, study.workers).round(1).to_markdown(index=False))
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
