"""Subset spread at each k against the additive task model: do subsets of equal k differ more than their tasks'
separate effects explain (interactions)? Observed SD over subsets vs the SD the additive model plus seed noise
predicts, with a parametric-bootstrap interval and a lack-of-fit p-value (see subset_spread_vs_additive)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xit.analysis.effects import (Design, check_additive, check_settings, few_runs_note, groups, matrix_rank, task_design,
                                  trained_runs)
from xit.analysis.stats import AMOUNT_COLUMN, MIN_FOR_INTERVAL, condition_labels


def subset_spread_vs_additive(scores: pd.DataFrame, n_sim: int = 2000, level: float = 0.95, seed: int = 0,
                              amount_column: str | None = AMOUNT_COLUMN, value_column: str | None = None) -> pd.DataFrame:
    """Per target × direction × metric × layer × k: SD over subsets (each averaged over seeds), observed vs additive.

    A subset trained at two amounts per task (both budget policies) is two conditions (condition_labels): seeds of
    one condition are its replicates, and n_subsets counts conditions.

    predicted_sd = sqrt(fitted_sd² + noise² · mean(1/seeds per subset)): the spread of the fitted model's subset
    means (additive, plus the log2(k) term where the design identifies it; constant within a k, it adds no spread)
    plus seed noise, its variance pooled over seed replicates of the same subset (the additive residuals when there
    are none: conservative). excess = observed_sd - predicted_sd. A parametric bootstrap (fitted model + Gaussian
    noise, refitted n_sim times) gives the interval excess - central quantiles of excess*, and the one-sided p
    (more spread than additive tasks explain) of the lack-of-fit ratio at k (Spread.lack_of_fit), whose null
    distribution does not depend on the unknown task effects or noise level.
    """
    check_settings(level, n_sim=n_sim)
    runs, value = trained_runs(scores, value_column, amount_column)
    checked = []
    for keys, group in groups(runs):
        design = task_design(group, amount_column)
        check_additive(design, " ".join(str(v) for v in keys.values()) or "run-score table")
        checked.append((keys, group, design))
    out = []
    for keys, group, design in checked:
        out.extend(_spread_rows(keys, group, design, group[value].to_numpy(dtype=float), n_sim, level, seed, amount_column))
    return pd.DataFrame(out)


@dataclass(frozen=True)
class _Spread:
    """What the spread statistic needs from one group's design."""

    hat: np.ndarray  # fitted values = hat @ y
    members: np.ndarray  # subsets × runs, 1 where the run trained on that subset
    subset_k: np.ndarray
    pure_error_df: int
    residual_df: int

    @property
    def averaging(self) -> np.ndarray:
        """subsets × runs: subset means = averaging @ y."""
        return self.members / self.members.sum(axis=1, keepdims=True)

    def noise_var(self, y: np.ndarray) -> np.ndarray:
        """Seed-noise variance per column of y (n × B): pooled over seed replicates, else additive residuals."""
        if self.pure_error_df >= MIN_FOR_INTERVAL:
            return ((y - self.members.T @ (self.averaging @ y)) ** 2).sum(axis=0) / self.pure_error_df
        return ((y - self.hat @ y) ** 2).sum(axis=0) / self.residual_df

    def lack_of_fit(self, y: np.ndarray, at_k: np.ndarray) -> np.ndarray:
        """Mean over subsets at one k of seeds·(subset mean - fitted)², over the seed-noise variance, per column of y.

        Under an additive truth with Gaussian noise its distribution is free of the task effects and of the noise
        level, so the parametric bootstrap p-value based on it is exact up to Monte Carlo error.
        """
        gap = self.averaging @ (y - self.hat @ y)
        return (self.members[at_k].sum(axis=1)[:, None] * gap[at_k] ** 2).mean(axis=0) / self.noise_var(y)

    def excess(self, y: np.ndarray, at_k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """observed SD, fitted SD, predicted SD and excess at one k, per column of y."""
        observed = (self.averaging @ y)[at_k].std(axis=0, ddof=1)
        fitted = (self.averaging @ (self.hat @ y))[at_k].std(axis=0, ddof=1)
        predicted = np.sqrt(fitted**2 + self.noise_var(y) * (1.0 / self.members[at_k].sum(axis=1)).mean())
        return observed, fitted, predicted, observed - predicted


def _spread_design(group: pd.DataFrame, design: Design, amount_column: str | None) -> _Spread:
    x = design.full if matrix_rank(design.full) > matrix_rank(design.additive) else design.additive
    subsets, codes = np.unique(condition_labels(group, amount_column).to_numpy(), return_inverse=True)
    members = np.zeros((len(subsets), len(group)))
    members[codes, np.arange(len(group))] = 1.0
    return _Spread(hat=x @ np.linalg.pinv(x), members=members, subset_k=group.groupby(codes)["k"].first().to_numpy(),
                   pure_error_df=len(group) - len(subsets), residual_df=len(group) - x.shape[1])


def _spread_rows(keys: dict, group: pd.DataFrame, design: Design, y: np.ndarray, n_sim: int, level: float,
                 seed: int, amount_column: str | None) -> list[dict]:
    """subset_spread_vs_additive's rows for one group."""
    spread = _spread_design(group, design, amount_column)
    replicated = spread.pure_error_df >= MIN_FOR_INTERVAL
    enough = replicated or spread.residual_df >= MIN_FOR_INTERVAL
    y_sim = None
    if enough:
        fitted, noise_sd = spread.hat @ y, float(np.sqrt(spread.noise_var(y[:, None])[0]))
        y_sim = fitted[:, None] + np.random.default_rng([seed, 3]).normal(0.0, noise_sd, size=(len(y), n_sim))
    rows = []
    for k in sorted(np.unique(spread.subset_k)):
        at_k = spread.subset_k == k
        m = int(at_k.sum())
        row = keys | {"k": int(k), "n_subsets": m, "n_runs": int(spread.members[at_k].sum()),
                      "observed_sd": np.nan, "fitted_sd": np.nan, "noise_sd": np.nan, "predicted_sd": np.nan,
                      "excess": np.nan, "excess_ci_low": np.nan, "excess_ci_high": np.nan, "p_value": np.nan,
                      "noise_from": "seed replicates" if replicated else "additive residuals", "note": ""}
        if m < 2:
            rows.append(row | {"note": "one subset at this k: no spread"})
            continue
        observed, fitted_sd, predicted, excess = (float(v[0]) for v in spread.excess(y[:, None], at_k))
        row |= {"observed_sd": observed, "fitted_sd": fitted_sd, "predicted_sd": predicted, "excess": excess,
                "noise_sd": float(np.sqrt(spread.noise_var(y[:, None])[0]))}
        if not enough:
            row["note"] = few_runs_note(len(y), spread.residual_df)
        elif m < MIN_FOR_INTERVAL:
            row["note"] = f"too few subsets (n={m}) for an interval"
        else:
            null = spread.excess(y_sim, at_k)[3]
            low, high = np.quantile(null, [(1 - level) / 2, (1 + level) / 2])
            lack = float(spread.lack_of_fit(y[:, None], at_k)[0])
            row |= {"excess_ci_low": excess - float(high), "excess_ci_high": excess - float(low),
                    "p_value": float((1 + np.sum(spread.lack_of_fit(y_sim, at_k) >= lack * (1 - 1e-12))) / (1 + n_sim))}
        rows.append(row)
    return rows
