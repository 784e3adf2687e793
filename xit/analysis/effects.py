"""The number of tasks k versus task composition: an additive task model and a k term beyond it.

The **additive model** says a trained run's score is an intercept plus one effect per task it trained on (plus a
log2(per-task amount) term where the total training budget varies across runs). The **k effect beyond
composition** is the coefficient of a log2(k) term added to that model, in points per doubling of k: negative
means that training on more tasks costs points beyond what the individual tasks bring (interference),
positive that tasks gain from each other. Only trained runs (k >= 1) of kind "task" (or without a kind) enter.

With the amount term, that coefficient doubles k *at the same amount per task*, so the total doubles too. The
same fit also answers at the *same total* (each task gets half as much): since log2(amount) = log2(total) -
log2(k), that effect is the k coefficient minus the amount coefficient, and its test puts log2(total) in place
of log2(amount) in the null model (fixed_total_design). Together they separate "more tasks" from "more steps".

Its p-value is a Freedman–Lane permutation test (Freedman & Lane 1983, J. Bus. Econ. Stat. 1(4); Anderson &
Robinson 2001, Aust. N. Z. J. Stat. 43(1)): residuals of the additive model are permuted across runs, added back
to its fit, and the full model is refitted; the statistic is the t of log2(k). Intervals are percentile
bootstraps that resample runs with replacement (pairs bootstrap; resamples whose design no longer identifies the
model are dropped and counted). A task effect gets an interval only where at least MIN_FOR_INTERVAL runs have
the task and as many lack it: a task in one run is fitted exactly by it, so every resample would agree.

The subset spread against the same additive model is in xit.analysis.spread.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xit.analysis.stats import AMOUNT_COLUMN, GROUP, MIN_FOR_INTERVAL, task_runs
from xit.errors import XitConfigError

KEYS = GROUP + ["layer"]


@dataclass(frozen=True)
class Design:
    """The additive model's columns (intercept, task indicators[, log2 amount]) and the full model's (+ log2 k)."""

    additive: np.ndarray
    full: np.ndarray
    names: list[str]
    tasks: list[str]
    budget: str  # one of BUDGET

    @property
    def residual_df(self) -> int:
        """Runs minus parameters of the full model."""
        return self.full.shape[0] - self.full.shape[1]


@dataclass(frozen=True)
class TaskCountEffect:
    """task_count_effect's answer: one summary row per target × direction × metric × layer, plus details."""

    summary: pd.DataFrame
    task_effects: pd.DataFrame
    predictions: pd.DataFrame


def matrix_rank(x: np.ndarray) -> int:
    """Numerical rank of a design matrix."""
    return int(np.linalg.matrix_rank(x))


def _task_sets(tasks: pd.Series) -> list[set[str]]:
    return [{t for t in str(s).split("+") if t} for s in tasks]


def trained_runs(scores: pd.DataFrame, value_column: str | None = None, amount_column: str | None = AMOUNT_COLUMN) -> tuple[pd.DataFrame, str]:
    """Trained task runs (k >= 1) of a run-score table, checked; and the name of the score column used."""
    value = value_column or ("score" if "score" in scores.columns else "value")
    missing = [c for c in ("run_id", "k", "tasks", value) if c not in scores.columns]
    if missing:
        raise XitConfigError(f"run-score table is missing column(s) {', '.join(missing)}; pass the table from "
                             "xit.analysis.results.run_scores(results) (columns run_id, k, tasks, seed, ..., score).")
    runs = task_runs(scores, include_untrained=False).reset_index(drop=True)
    counts = np.array([len(s) for s in _task_sets(runs["tasks"])])
    wrong = runs.loc[counts != runs["k"].to_numpy(), "run_id"].astype(str).unique().tolist()
    if wrong:
        raise XitConfigError(f"run(s) {', '.join(wrong[:5])} have a k that differs from the number of '+'-joined tasks; "
                             "re-collect the results table with `python -m xit run <grid>.yaml`.")
    if amount_column and amount_column in runs.columns:
        amount = pd.to_numeric(runs[amount_column], errors="coerce")
        if amount.isna().any() or (amount <= 0).any():
            bad = runs.loc[amount.isna() | (amount <= 0), "run_id"].astype(str).tolist()
            raise XitConfigError(f"{amount_column!r} must be a positive number for every trained run (runs {', '.join(bad[:5])}); "
                                 f"fill it in, or pass amount_column=None when the budget per task is the same everywhere.")
    return runs, value


def groups(runs: pd.DataFrame) -> Iterator[tuple[dict, pd.DataFrame]]:
    """(keys, rows) per target × direction × metric × layer (whichever of these columns the table has)."""
    keys = [c for c in KEYS if c in runs.columns]
    if not keys:
        yield {}, runs
        return
    for values, group in runs.groupby(keys, sort=True):
        yield dict(zip(keys, values)), group.reset_index(drop=True)


#: How the training amount enters: a log2(per-task amount) term (the total budget varies across runs), a fixed
#: total split over k tasks (the k effect then includes the smaller amount per task), a fixed amount per task,
#: or no amount column.
BUDGET = {"term": "log2(per-task amount) term", "fixed total": "fixed total budget: k effect includes less training per task",
          "fixed per task": "fixed amount per task", "not recorded": "amount per task not recorded"}


def budget_kind(runs: pd.DataFrame, amount_column: str | None) -> str:
    """Which BUDGET case a group of trained runs is in."""
    if not amount_column or amount_column not in runs.columns:
        return "not recorded"
    amount = runs[amount_column].to_numpy(dtype=float)
    if np.ptp(amount) == 0:
        return "fixed per task"
    total = amount * runs["k"].to_numpy(dtype=float)
    # a fixed total makes log2(amount) = log2(total) - log2(k): adding it would alias the k term by construction
    return "fixed total" if np.ptp(total) <= 1e-9 * total.max() else "term"


def task_design(runs: pd.DataFrame, amount_column: str | None = AMOUNT_COLUMN) -> Design:
    """Design matrices of the additive and full models for one group of trained runs."""
    sets = _task_sets(runs["tasks"])
    tasks = sorted(set().union(*sets))
    indicators = np.array([[t in chosen for t in tasks] for chosen in sets], dtype=float).reshape(len(runs), len(tasks))
    columns, names = [np.ones((len(runs), 1)), indicators], ["intercept", *tasks]
    budget = budget_kind(runs, amount_column)
    if budget == "term":
        columns.append(np.log2(runs[amount_column].to_numpy(dtype=float))[:, None])
        names.append(f"log2({amount_column})")
    additive = np.hstack(columns)
    full = np.hstack([additive, np.log2(runs["k"].to_numpy(dtype=float))[:, None]])
    return Design(additive, full, names, tasks, budget)


def aliased_columns(design: Design) -> list[str]:
    """The additive model's columns that others can stand in for (none when its effects are identified)."""
    rank, p = matrix_rank(design.additive), design.additive.shape[1]
    return [] if rank == p else [name for j, name in enumerate(design.names) if matrix_rank(np.delete(design.additive, j, axis=1)) == rank]


def check_additive(design: Design, where: str) -> None:
    """Refuse (naming the aliased columns and the fix) when the additive model's effects are not identified."""
    aliased = aliased_columns(design)
    if aliased:
        raise XitConfigError(f"{where}: the additive task model is not identified ({', '.join(aliased)} cannot be told "
                             "apart: tasks that always occur together, or in every run). Add runs that separate them, "
                             "e.g. each task alone at k=1.")


def check_k_term(design: Design, k_values: list[int], where: str) -> None:
    """Refuse when log2(k) is a combination of the additive model's columns (k not separable from composition)."""
    if len(k_values) < 2:
        raise XitConfigError(f"{where}: every trained run has k={k_values[0]}; a k effect needs trained runs at two or "
                             "more values of k (add them to the grid's k list).")
    check_additive(design, where)
    if matrix_rank(design.full) > matrix_rank(design.additive):
        return
    p = design.additive.shape[1]
    if design.budget == "term" and matrix_rank(np.delete(design.full, p - 1, axis=1)) == p:
        raise XitConfigError(
            f"{where}: log2(k) and log2({design.names[p - 1].removeprefix('log2(').removesuffix(')')}) are aliased "
            "(the per-task amount is a function of k), so the k effect cannot be told from the budget per task. "
            "Run some k at a second total budget, or keep the per-task amount fixed across k."
        )
    raise XitConfigError(
        f"{where}: log2(k) is a combination of the task indicators (k values {k_values}), so the design cannot "
        "separate the number of tasks from which tasks were chosen. Typical cause: one subset per k (e.g. the single "
        "tasks and the full pool only). Add two or more different subsets at some intermediate k."
    )


def fixed_total_design(design: Design) -> Design:
    """The same full model with log2(total amount) in place of log2(per-task amount): its k term holds the total
    fixed. Only for budget "term" (design.additive's last column is log2 amount, design.full's is log2 k)."""
    log_k = design.full[:, -1:]
    additive = np.hstack([design.additive[:, :-1], design.additive[:, -1:] + log_k])
    return Design(additive, np.hstack([additive, log_k]), [*design.names[:-1], "log2(total amount)"], design.tasks,
                  design.budget)


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients and fitted values."""
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    return coef, x @ coef


def _last_t(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """t statistic of the last column's coefficient for each column of y (n × B); 0/0 counts as 0, c/0 as inf."""
    pinv = np.linalg.pinv(x)
    coef = pinv @ y
    rss = ((y - x @ coef) ** 2).sum(axis=0) / (x.shape[0] - x.shape[1])
    scale = max(float(np.abs(y).max()), 1.0) * 1e-9  # below this, floating-point noise, not signal
    last = np.where(np.abs(coef[-1]) < scale, 0.0, coef[-1])
    se = np.sqrt(rss * (pinv @ pinv.T)[-1, -1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se < scale, np.where(last == 0, 0.0, np.sign(last) * np.inf), last / np.where(se < scale, 1.0, se))


def freedman_lane_p(design: Design, y: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided permutation p of the log2(k) term: (1 + #{|t*| >= |t|}) / (1 + n_perm)."""
    _, reduced = _fit(design.additive, y)
    residuals = y - reduced
    order = rng.permuted(np.tile(np.arange(len(y)), (n_perm, 1)), axis=1)
    y_perm = reduced[:, None] + residuals[order].T
    t_obs = abs(float(_last_t(design.full, y[:, None])[0]))
    t_perm = np.abs(_last_t(design.full, y_perm))
    return float((1 + np.sum(t_perm >= t_obs * (1 - 1e-9))) / (1 + n_perm))


def pairs_bootstrap(x: np.ndarray, y: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Coefficients refitted on n_boot resamples of runs (rows); resamples with a rank-deficient design are dropped."""
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    xb, yb = x[idx], y[idx]
    gram = np.einsum("bnp,bnq->bpq", xb, xb)  # normal equations: p × p per resample, far cheaper than an SVD of n × p
    eig = np.linalg.eigvalsh(gram)
    ok = eig[:, 0] > 1e-9 * np.maximum(eig[:, -1], 1e-300)
    if not ok.any():
        return np.empty((0, x.shape[1]))
    return np.linalg.solve(gram[ok], np.einsum("bnp,bn->bp", xb[ok], yb[ok])[..., None])[..., 0]


def _interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    if len(draws) == 0:
        return np.nan, np.nan
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def check_settings(level: float, **counts: int) -> None:
    """Refuse a level outside (0, 1) or fewer than 19 permutations / resamples (p could not reach 0.05)."""
    if not 0 < level < 1:
        raise XitConfigError(f"level={level} must lie strictly between 0 and 1, e.g. 0.95")
    for name, count in counts.items():
        if count < 19:
            raise XitConfigError(f"{name}={count} is too few: use at least 19 (p cannot go below 1/({name}+1)), e.g. 999")


def few_runs_note(n: int, df: int) -> str:
    """The note for a fit with too few residual degrees of freedom for an interval ('' when there are enough)."""
    return f"too few runs (n={n}, residual df={df}) for an interval or a p-value" if df < MIN_FOR_INTERVAL else ""


def task_count_effect(scores: pd.DataFrame, n_perm: int = 999, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                      amount_column: str | None = AMOUNT_COLUMN, value_column: str | None = None) -> TaskCountEffect:
    """Per target × direction × metric × layer: the log2(k) coefficient beyond the additive task model.

    scores: xit.analysis.results.run_scores(results) (one row per run), optionally with a per-task amount column
    and a kind column. Refuses, before any fit, designs that cannot separate k from composition. With residual
    df < 3 the coefficient is reported without interval or p-value, and the note says so.
    """
    check_settings(level, n_perm=n_perm, n_boot=n_boot)
    runs, value = trained_runs(scores, value_column, amount_column)
    if runs.empty:
        raise XitConfigError("the run-score table has no trained task runs (k >= 1); run the grid with k >= 1.")
    checked = []
    for keys, group in groups(runs):
        where = " ".join(str(v) for v in keys.values()) or "run-score table"
        if group["run_id"].duplicated().any():
            raise XitConfigError(f"{where}: a run appears twice; pass one row per run (xit.analysis.results.run_scores).")
        design = task_design(group, amount_column)
        check_k_term(design, sorted(int(k) for k in group["k"].unique()), where)
        checked.append((keys, group, design))
    summary, effects, predictions = [], [], []
    for keys, group, design in checked:  # every group checked first: refuse before computing anything
        s, e, p = _one_group(keys, group, design, group[value].to_numpy(dtype=float), n_perm, n_boot, level, seed)
        summary.append(s)
        effects.extend(e)
        predictions.append(p)
    return TaskCountEffect(pd.DataFrame(summary), pd.DataFrame(effects), pd.concat(predictions, ignore_index=True))


def _one_group(keys: dict, group: pd.DataFrame, design: Design, y: np.ndarray, n_perm: int, n_boot: int,
               level: float, seed: int) -> tuple[dict, list[dict], pd.DataFrame]:
    """Fit, test and bootstrap one target × direction × metric × layer."""
    n, df = len(y), design.residual_df
    coef_full, fitted_full = _fit(design.full, y)
    coef_add, fitted_add = _fit(design.additive, y)
    note = few_runs_note(n, df)
    few = bool(note)
    boot_full = pairs_bootstrap(design.full, y, n_boot, np.random.default_rng([seed, 1])) if not few else np.empty((0, 0))
    boot_add = pairs_bootstrap(design.additive, y, n_boot, np.random.default_rng([seed, 2])) if not few else np.empty((0, 0))
    if not few and len(boot_full) < 0.9 * n_boot:
        note = f"only {len(boot_full)} of {n_boot} resamples of runs identified the model: the interval is rough"
    k_low, k_high = _interval(boot_full[:, -1], level) if not few else (np.nan, np.nan)
    summary = keys | {
        "n_runs": n, "n_subsets": group["tasks"].nunique(),
        "k_values": ",".join(str(k) for k in sorted(group["k"].unique())), "budget": BUDGET[design.budget],
        "k_effect": float(coef_full[-1]), "k_ci_low": k_low, "k_ci_high": k_high,
        "p_value": freedman_lane_p(design, y, n_perm, np.random.default_rng([seed, 0])) if not few else np.nan,
        "n_perm": n_perm if not few else 0, "n_boot_used": len(boot_full),
        **_amount_terms(design, y, coef_full, boot_full, n_perm, level, seed, few),
        "residual_sd": float(np.sqrt(((y - fitted_full) ** 2).sum() / df)) if df > 0 else np.nan,
        "residual_df": df, "note": note,
    }
    sets = _task_sets(group["tasks"])
    effects = []
    for j, task in enumerate(design.tasks, start=1):
        with_task = sum(task in s for s in sets)
        scarce = min(with_task, n - with_task) < MIN_FOR_INTERVAL
        low, high = _interval(boot_add[:, j], level) if not (few or scarce) else (np.nan, np.nan)
        task_note = (f"{with_task} of {n} runs have the task: too few on one side for an interval" if scarce and not few
                     else summary["note"])
        effects.append(keys | {"task": task, "effect": float(coef_add[j]), "ci_low": low, "ci_high": high,
                               "n_runs_with": with_task, "note": task_note})
    columns = [c for c in ("run_id", "k", "tasks", "seed") if c in group.columns]
    predictions = group[columns].assign(**keys, score=y, additive=fitted_add, with_k_term=fitted_full,
                                        residual=y - fitted_add)
    return summary, effects, predictions[list(keys) + columns + ["score", "additive", "with_k_term", "residual"]]


def _amount_terms(design: Design, y: np.ndarray, coef_full: np.ndarray, boot_full: np.ndarray, n_perm: int,
                  level: float, seed: int, few: bool) -> dict:
    """Where the amount per task varies (budget "term"): its own effect per doubling, and the k effect at a fixed
    total (k coefficient minus amount coefficient) with its interval and Freedman–Lane p; NaN otherwise."""
    out = {"budget_effect": np.nan, "budget_ci_low": np.nan, "budget_ci_high": np.nan, "k_effect_fixed_total": np.nan,
           "k_total_ci_low": np.nan, "k_total_ci_high": np.nan, "p_value_fixed_total": np.nan}
    if design.budget != "term":
        return out
    j = design.additive.shape[1] - 1
    out |= {"budget_effect": float(coef_full[j]), "k_effect_fixed_total": float(coef_full[-1] - coef_full[j])}
    if not few:
        out["budget_ci_low"], out["budget_ci_high"] = _interval(boot_full[:, j], level)
        out["k_total_ci_low"], out["k_total_ci_high"] = _interval(boot_full[:, -1] - boot_full[:, j], level)
        out["p_value_fixed_total"] = freedman_lane_p(fixed_total_design(design), y, n_perm, np.random.default_rng([seed, 4]))
    return out