"""How well xit.analysis.effects.task_count_effect sees a k effect beyond composition, per design.

    PYTHONPATH=. python benchmarks/analysis_power.py            # a few minutes on 2 cores
    PYTHONPATH=. python benchmarks/analysis_power.py --tables 400

A k effect linear in k is the same model as every task effect shifted by a constant, so only log2(k)'s
curvature over the design's k values is separable from composition. The first table is the normal-theory
power of the log2(k) term (two-sided 5%) for a true -3 points per doubling of k and seed noise SD 2, from the
design matrix alone; the second simulates constructed tables (seeded) and counts p < 0.05 of the Freedman-Lane
permutation test with no k term (the false-positive rate) and with -3 points per doubling (the power), with the
coverage of the 95% intervals; the third does the same for subset_spread_vs_additive without and with
subset-level interactions.
Balanced subsets are windows of k consecutive tasks around a circle (each task in k of n windows), a stand-in
for the grid's balanced designs of the same pool size, k values and subset counts.
"""

from __future__ import annotations

import argparse
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from xit.analysis.effects import task_count_effect, task_design
from xit.analysis.spread import subset_spread_vs_additive


def factorial(n_tasks: int) -> list[tuple[str, ...]]:
    pool = [f"t{i:02d}" for i in range(n_tasks)]
    return [s for k in range(1, n_tasks + 1) for s in combinations(pool, k)]


def balanced(n_tasks: int, ks: tuple[int, ...], per_k: int) -> list[tuple[str, ...]]:
    pool = [f"t{i:02d}" for i in range(n_tasks)]
    out = []
    for k in ks:
        windows = sorted({tuple(sorted(pool[(i + j) % n_tasks] for j in range(k))) for i in range(n_tasks)})
        out += windows if k == 1 else windows[:per_k]
    return out


DESIGNS = {
    "factorial 4 tasks x 2 seeds": (factorial(4), 2),
    "factorial 5 tasks x 2 seeds": (factorial(5), 2),
    "demo.yaml-like: 4 tasks, k 1,2,4, 1 subset, 1 seed": (balanced(4, (1, 2, 4), 1), 1),
    "paper.yaml-like: 9 tasks, k 1..9, 2 subsets, 1 seed": (balanced(9, tuple(range(1, 10)), 2), 1),
    "balanced 12 tasks, k 1,2,4,8,12, 1 seed": (balanced(12, (1, 2, 4, 8, 12), 12), 1),
    "wide.yaml-like: 17 tasks, k 1,2,4,8,12,17, 8 subsets, 2 seeds": (balanced(17, (1, 2, 4, 8, 12, 17), 8), 2),
}


def runs(subsets: list[tuple[str, ...]], seeds: int) -> pd.DataFrame:
    return pd.DataFrame([{"run_id": f"{'+'.join(s)}-{seed}", "k": len(s), "tasks": "+".join(s), "seed": seed}
                         for s in subsets for seed in range(seeds)])


def analytic_power(table: pd.DataFrame, slope: float = -3.0, noise: float = 2.0) -> tuple[int, float, float]:
    """Residual df, standard error of the log2(k) coefficient, and normal-theory power at 5%."""
    x = task_design(table, None).full
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return len(table) - x.shape[1], np.nan, np.nan
    se = noise * float(np.sqrt(np.linalg.inv(x.T @ x)[-1, -1]))
    return len(table) - x.shape[1], se, float(stats.norm.cdf(abs(slope) / se - 1.96) + stats.norm.cdf(-abs(slope) / se - 1.96))


def constructed(table: pd.DataFrame, rng: np.random.Generator, slope: float, subset_sd: float = 0.0) -> pd.DataFrame:
    """Scores: 50 + random task effects (SD 2) + slope·log2(k) + a subset effect (SD subset_sd) + seed noise (SD 2)."""
    tasks = sorted({t for s in table["tasks"] for t in s.split("+")})
    effect = dict(zip(tasks, rng.normal(0.0, 2.0, size=len(tasks))))
    shared = {s: rng.normal(0.0, subset_sd) if subset_sd else 0.0 for s in table["tasks"].unique()}
    score = [50 + sum(effect[t] for t in s.split("+")) + slope * np.log2(k) + shared[s] + rng.normal(0.0, 2.0)
             for s, k in zip(table["tasks"], table["k"])]
    return table.assign(score=score, target="t", direction="d", metric="m", layer=0), effect


def simulated(table: pd.DataFrame, slope: float, n_tables: int, seed: int) -> dict:
    """task_count_effect on constructed tables: share with p < 0.05, KS p of the p-values, interval coverage."""
    rng = np.random.default_rng(seed)
    p_values, task_hits, k_hits = [], [], []
    for i in range(n_tables):
        scores, effect = constructed(table, rng, slope)
        fit = task_count_effect(scores, n_perm=199, n_boot=200, seed=i)
        row = fit.summary.iloc[0]
        p_values.append(row["p_value"])
        k_hits.append(row["k_ci_low"] < slope < row["k_ci_high"])
        te = fit.task_effects
        task_hits += [low < effect[t] < high for t, low, high in zip(te["task"], te["ci_low"], te["ci_high"])]
    p_values = np.array(p_values)
    return {"k per doubling": slope, "tables": n_tables, "p<0.05": (p_values < 0.05).mean(),
            "KS p (uniform)": stats.kstest(p_values, "uniform").pvalue if slope == 0 else np.nan,
            "k interval coverage": np.mean(k_hits),
            # with a k term the additive model's task effects absorb part of it: coverage is only meaningful without
            "task interval coverage": np.mean(task_hits) if slope == 0 else np.nan}


def spread_simulated(table: pd.DataFrame, subset_sd: float, n_tables: int, seed: int) -> pd.Series:
    """subset_spread_vs_additive on constructed tables: share with p < 0.05 per k."""
    rng = np.random.default_rng(seed)
    rows = pd.concat([subset_spread_vs_additive(constructed(table, rng, 0.0, subset_sd)[0], n_sim=500, seed=i)
                      for i in range(n_tables)])
    return rows.dropna(subset=["p_value"]).groupby("k")["p_value"].apply(lambda p: (p < 0.05).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200, help="constructed tables per simulated cell")
    args = parser.parse_args()
    rows = []
    for name, (subsets, seeds) in DESIGNS.items():
        table = runs(subsets, seeds)
        df, se, power = analytic_power(table)
        rows.append({"design": name, "runs": len(table), "residual df": df, "se of log2(k) term": se, "power (normal)": power})
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    sims = []
    for name, slope in (("factorial 4 tasks x 2 seeds", 0.0), ("factorial 5 tasks x 2 seeds", 0.0),
                        ("factorial 5 tasks x 2 seeds", -3.0), ("balanced 12 tasks, k 1,2,4,8,12, 1 seed", -3.0)):
        sims.append({"design": name} | simulated(runs(*DESIGNS[name]), slope, args.tables, 1))
    print(pd.DataFrame(sims).round(3).to_string(index=False))
    five = runs(*DESIGNS["factorial 5 tasks x 2 seeds"])
    spread = pd.DataFrame({f"subset SD {sd:g}: p<0.05": spread_simulated(five, sd, args.tables, 3) for sd in (0.0, 4.0)})
    print("subset_spread_vs_additive, factorial 5 tasks x 2 seeds, seed noise SD 2, per k:")
    print(spread.round(3).to_string())


if __name__ == "__main__":
    main()
