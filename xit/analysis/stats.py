"""Statistics on results tables: bootstrap intervals, trend tests, spread across subsets/seeds/languages/layers.

Every random draw takes an explicit seed, so the same table gives the same intervals.
The unit of analysis is a *run* (one task subset × seed); a run's score on a target is the
mean of its per-language values of the target's headline metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from xit.analysis.results import headline_rows, run_scores, select_layer
from xit.config import choice

GROUP = ["target", "direction", "metric"]
#: Below this many independent units (runs, items) an interval is not reported: it would be too unstable to read.
MIN_FOR_INTERVAL = 3
#: Optional run-score column with the training amount per task (steps or examples).
AMOUNT_COLUMN = "steps_per_task"


def small_sample_note(n: int, unit: str = "runs", minimum: int = MIN_FOR_INTERVAL) -> str:
    """'too few runs (n=2) for an interval' when n < minimum, else ''."""
    return f"too few {unit} (n={n}) for an interval" if n < minimum else ""


def task_runs(scores: pd.DataFrame, include_untrained: bool = True) -> pd.DataFrame:
    """Rows of task-training runs: kind == "task" where a kind column exists (controls are left out), and the k = 0
    baseline (kind "none") unless include_untrained is False."""
    if "kind" in scores.columns:
        kind = scores["kind"]
        scores = scores[kind.isna() | (kind.astype(str).isin(["task", "none", ""]))]
    return scores if include_untrained else scores[scores["k"] >= 1]


def bootstrap_ci(values: np.ndarray | list[float], n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap interval of a 1-D sample (scipy.stats.bootstrap); NaN bounds for n < 3."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if len(values) < MIN_FOR_INTERVAL:
        return mean, np.nan, np.nan
    if np.ptp(values) == 0:
        return mean, mean, mean
    res = stats.bootstrap((values,), np.mean, n_resamples=n_boot, confidence_level=level,
                          method="percentile", rng=np.random.default_rng(seed))
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def crossed_bootstrap_ci(matrix: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean and interval of a runs × languages matrix, resampling runs and languages (both are samples)."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    n_runs, n_langs = matrix.shape
    mean = float(np.nanmean(matrix))
    if n_runs * n_langs < 2:
        return mean, np.nan, np.nan
    rng = np.random.default_rng(seed)
    run_idx = rng.integers(0, n_runs, size=(n_boot, n_runs))
    lang_idx = rng.integers(0, n_langs, size=(n_boot, n_langs))
    picked = matrix[run_idx[:, :, None], lang_idx[:, None, :]]  # n_boot × runs × languages
    means = np.nanmean(picked.reshape(n_boot, -1), axis=1)
    alpha = (1 - level) / 2
    low, high = np.nanquantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)


RESAMPLE = ("runs", "runs+languages")


def amount_arms(rows: pd.DataFrame, min_k_values: int = 3) -> pd.DataFrame:
    """Rows labelled with their training-amount arm ("60 steps per task", "60 steps in all") in an `arm` column.

    A single task's run belongs to both arms of its amount (per task and in all are the same there), and the
    untrained run to every arm. Arms that reach fewer distinct k > 0 than min_k_values (or than the best arm,
    if fewer) are left out: a dose tried at two k values is not a curve, and the dose analysis reads those runs.
    A table without budget columns is one arm, labelled "".
    """
    if not {"budget_policy", "total_steps", "steps_per_task"} <= set(rows.columns) or rows["budget_policy"].isna().all():
        return rows.assign(arm="")
    trained = rows[rows["k"] >= 1]
    in_all = trained["total_steps"].astype("Float64").map(lambda n: f"{n:g} steps in all", na_action="ignore")
    per_task = trained["steps_per_task"].astype("Float64").map(lambda n: f"{n:g} steps per task", na_action="ignore")
    labelled = trained.assign(arm=np.where(trained["budget_policy"].astype(str) == "total", in_all, per_task))
    singles = trained[trained["k"] == 1].assign(arm=in_all[trained["k"] == 1])
    arms = pd.concat([labelled, singles], ignore_index=True).dropna(subset=["arm"]).drop_duplicates()
    k_values = arms.groupby("arm")["k"].nunique()
    keep = k_values[k_values >= min(min_k_values, k_values.max())].index if len(k_values) else []
    arms = arms[arms["arm"].isin(keep)]
    untrained = [rows[rows["k"] == 0].assign(arm=arm) for arm in keep]
    return pd.concat([*untrained, arms], ignore_index=True)


def main_arm(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the amount arm that reaches the most k values (ties: more runs), labelled in `arm`: the one curve
    along which k grows furthest at a fixed training amount. A table without budget columns comes back whole."""
    arms = amount_arms(rows)
    trained = arms[arms["k"] >= 1]
    if trained.empty or (arms["arm"] == "").all():
        return arms
    rank = trained.groupby("arm").agg(k_values=("k", "nunique"), runs=("run_id", "nunique"))
    best = rank.sort_values(["k_values", "runs"], ascending=False, kind="stable").index[0]
    return arms[arms["arm"] == best].reset_index(drop=True)


def arm_of(table: pd.DataFrame) -> str:
    """The training-amount arm a table was read along (main_arm), or "" for a table without budgets."""
    return str(table["arm"].iloc[0]) if "arm" in table and len(table) else ""


def scaling_table(results: pd.DataFrame, layer: int | None = None, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                  resample: str = "runs") -> pd.DataFrame:
    """Per target × direction × training-amount arm × k: mean score over runs and languages, bootstrap CI, gain over k=0.

    Each arm holds the amount fixed (per task, or in all) as k grows, so a curve never mixes budgets (amount_arms).
    resample="runs" (default) treats the language set as fixed, as it is for every k, so the interval is the
    uncertainty from task subsets and seeds; "runs+languages" also treats languages as a sample.
    """
    choice(resample, RESAMPLE, "resample")
    rows, chosen = select_layer(headline_rows(results), layer)
    rows = amount_arms(rows)
    out = []
    for (target, direction, metric, arm), group in rows.groupby([*GROUP, "arm"], sort=True):
        for k, at_k in group.groupby("k", sort=True):
            matrix = at_k.pivot_table(index="run_id", columns="language", values="value", aggfunc="mean").to_numpy()
            if resample == "runs":
                mean, low, high = bootstrap_ci(np.nanmean(matrix, axis=1), n_boot=n_boot, level=level, seed=seed)
            else:
                mean, low, high = crossed_bootstrap_ci(matrix, n_boot=n_boot, level=level, seed=seed)
            out.append({"target": target, "direction": direction, "metric": metric, "arm": arm, "layer": chosen, "k": int(k),
                        "n_runs": matrix.shape[0], "n_languages": matrix.shape[1],
                        "mean": mean, "ci_low": low, "ci_high": high,
                        "note": "one deterministic evaluation: no interval" if k == 0 and matrix.shape[0] == 1
                        else small_sample_note(matrix.shape[0]) if resample == "runs"
                        else small_sample_note(matrix.size, "run × language cells")})
    table = pd.DataFrame(out)
    base = table[table["k"] == 0].drop_duplicates(GROUP).set_index(GROUP)["mean"]
    table["gain"] = table["mean"] - pd.MultiIndex.from_frame(table[GROUP]).map(base.to_dict()).to_numpy(dtype=float)
    return table


def slope_bootstrap(k: np.ndarray, y: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the OLS slope by a residual bootstrap (the grid fixes the design: k is not random).

    Residuals are rescaled by sqrt(n / (n - 2)) so that their spread is not underestimated with few runs.
    """
    k, y = np.asarray(k, dtype=float), np.asarray(y, dtype=float)
    n = len(k)
    fit = stats.linregress(k, y)
    fitted = fit.intercept + fit.slope * k
    residuals = (y - fitted) * np.sqrt(n / max(n - 2, 1))
    rng = np.random.default_rng(seed)
    y_boot = fitted + residuals[rng.integers(0, n, size=(n_boot, n))]
    kc = k - k.mean()
    slopes = (y_boot - y_boot.mean(axis=1, keepdims=True)) @ kc / (kc**2).sum()
    alpha = (1 - level) / 2
    low, high = np.quantile(slopes, [alpha, 1 - alpha])
    return float(low), float(high)


def trend_test(scores: pd.DataFrame, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
               include_untrained: bool = False) -> pd.DataFrame:
    """Per target × direction: Spearman's rho of run score vs k, and the OLS slope (points per task) with intervals.

    Trained runs only (k >= 1) by default: the jump from no training to some training is a different question
    (training_vs_none) and would otherwise dominate the slope. include_untrained=True adds the k=0 runs back.
    """
    out = []
    scores = task_runs(scores, include_untrained=include_untrained)
    for (target, direction, metric, layer), group in scores.groupby(GROUP + ["layer"], sort=True):
        k, y = group["k"].to_numpy(dtype=float), group["score"].to_numpy(dtype=float)
        row = {"target": target, "direction": direction, "metric": metric, "layer": int(layer),
               "n_runs": len(group), "k_values": len(np.unique(k)), "k_min": int(k.min()), "k_max": int(k.max())}
        if row["k_values"] < 2:
            out.append(row | {"spearman_rho": np.nan, "spearman_p": np.nan, "slope": np.nan,
                              "note": f"only k={int(k[0])}: no trend to test"})
            continue
        constant = np.ptp(y) == 0
        rho = stats.spearmanr(k, y) if not constant else None
        fit = stats.linregress(k, y)
        dof = len(k) - 2
        few = dof < MIN_FOR_INTERVAL  # a slope from 3-4 runs has a residual spread too unstable for an interval
        t = stats.t.ppf(0.5 + level / 2, dof) if not few else np.nan
        boot_low, boot_high = slope_bootstrap(k, y, n_boot=n_boot, level=level, seed=seed) if not few else (np.nan, np.nan)
        out.append(row | {
            # identical scores at every k: no ranking exists, so rho is undefined (the slope is exactly 0)
            "spearman_rho": float(rho.statistic) if rho is not None else np.nan,
            "spearman_p": float(rho.pvalue) if rho is not None else np.nan,
            "slope": float(fit.slope),
            "slope_ci_low": boot_low, "slope_ci_high": boot_high,
            "slope_ols_low": float(fit.slope - t * fit.stderr) if not few else np.nan,
            "slope_ols_high": float(fit.slope + t * fit.stderr) if not few else np.nan,
            "note": f"too few runs (n={len(k)}) for an interval" if few else "",
        })
    return pd.DataFrame(out)


def training_vs_none(scores: pd.DataFrame, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                     by_k: bool = False) -> pd.DataFrame:
    """Per target × direction × layer (× k when by_k): mean trained-run score minus the untrained (k=0) score.

    The k=0 encoder is one deterministic evaluation, so it is a fixed reference: the interval is the percentile
    bootstrap of the trained runs' mean minus it, and p is a two-sided one-sample t-test of the trained runs
    against it. Read it before any trend in k: it says whether training helps at all.
    """
    runs = task_runs(scores)
    out = []
    for keys, group in runs.groupby(GROUP + ["layer"], sort=True):
        untrained = group.loc[group["k"] == 0, "score"]
        trained = group[group["k"] >= 1]
        parts = trained.groupby("k", sort=True) if by_k else [(None, trained)]
        for k, part in parts:
            y = part["score"].to_numpy(dtype=float)
            base = float(untrained.mean()) if len(untrained) else np.nan
            mean, low, high = bootstrap_ci(y, n_boot=n_boot, level=level, seed=seed)
            test = stats.ttest_1samp(y, base) if len(y) >= MIN_FOR_INTERVAL and np.ptp(y) > 0 else None
            note = "no untrained (k=0) run to compare with" if untrained.empty else small_sample_note(len(y))
            out.append(dict(zip(GROUP + ["layer"], keys)) | ({"k": int(k)} if by_k else {}) | {
                "n_runs": len(y), "untrained": base, "trained_mean": mean, "difference": mean - base,
                "ci_low": low - base, "ci_high": high - base,
                "p_value": float(test.pvalue) if test is not None and not untrained.empty else np.nan,
                "share_better": float((y > base).mean()) if len(y) and not untrained.empty else np.nan,
                "note": note,
            })
    return pd.DataFrame(out)


def subset_spread(scores: pd.DataFrame) -> pd.DataFrame:
    """Per target × direction × k: spread of scores across task subsets (each subset averaged over seeds)."""
    per_subset = scores.groupby(GROUP + ["layer", "k", "tasks"], as_index=False)["score"].mean()

    def summarise(group: pd.DataFrame) -> pd.Series:
        best, worst = group["score"].idxmax(), group["score"].idxmin()
        return pd.Series({
            "n_subsets": len(group), "mean": group["score"].mean(),
            "std": group["score"].std(ddof=1) if len(group) > 1 else np.nan,
            "min": group["score"].min(), "max": group["score"].max(),
            "range": group["score"].max() - group["score"].min(),
            "best_subset": group.loc[best, "tasks"] or "— (baseline)",
            "worst_subset": group.loc[worst, "tasks"] or "— (baseline)",
        })

    return per_subset.groupby(GROUP + ["layer", "k"]).apply(summarise, include_groups=False).reset_index()


def condition_labels(runs: pd.DataFrame, amount_column: str | None = AMOUNT_COLUMN) -> pd.Series:
    """Each run's condition: its task subset, and its amount per task where the table has one. Only runs of one
    condition are seed replicates: the same subset at another budget is another condition, not seed noise."""
    label = runs["tasks"].astype(str)
    if amount_column and amount_column in runs.columns:
        label = label + " @ " + pd.to_numeric(runs[amount_column], errors="coerce").map("{:g}".format)
    return label


def seed_spread(scores: pd.DataFrame) -> pd.DataFrame:
    """Per target × direction × k: how much the same condition (subset and amount per task) moves across seeds
    (mean and max std over conditions); another budget of the same subset is not a seed replicate."""
    scores = scores.assign(condition=condition_labels(scores))
    per_subset = scores.groupby(GROUP + ["layer", "k", "condition"]).agg(
        n_seeds=("seed", "nunique"), seed_std=("score", lambda s: s.std(ddof=1) if len(s) > 1 else np.nan),
        seed_range=("score", lambda s: s.max() - s.min()),
    ).reset_index()
    return per_subset.groupby(GROUP + ["layer", "k"]).agg(
        n_subsets=("condition", "size"), n_seeds=("n_seeds", "max"),
        mean_seed_std=("seed_std", "mean"), max_seed_range=("seed_range", "max"),
    ).reset_index()


def language_spread(scores: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per target × direction × k along the main amount arm (main_arm): mean, worst-language and bottom-quartile
    scores (mean over runs, with CIs); `arm` names the amount held fixed."""
    out = []
    keys_of = GROUP + ["layer", "arm", "k"]
    for keys, group in main_arm(scores).groupby(keys_of, sort=True):
        row = dict(zip(keys_of, keys))
        row["n_runs"] = len(group)
        row["n_languages"] = int(group["n_languages"].max())
        for column in ("score", "bottom_quartile", "worst"):
            mean, low, high = bootstrap_ci(group[column].to_numpy(), n_boot=n_boot, seed=seed)
            row |= {column: mean, f"{column}_ci_low": low, f"{column}_ci_high": high}
        row["note"] = small_sample_note(len(group))
        row["language_std"] = group["language_std"].mean()
        row["most_often_worst"] = group["worst_language"].mode().iloc[0]
        out.append(row)
    return pd.DataFrame(out).rename(columns={"score": "mean"})


def language_gains(results: pd.DataFrame, layer: int | None = None) -> pd.DataFrame:
    """Per target × direction × language × k along the main amount arm (main_arm, named in `arm`): mean gain in points
    over the k=0 baseline on that language."""
    rows, _ = select_layer(headline_rows(results), layer)
    rows = main_arm(rows[rows["language"] != "all"])
    keys = GROUP + ["layer", "arm", "language"]
    base = rows[rows["k"] == 0].groupby(keys)["value"].mean().rename("baseline")
    means = rows.groupby(keys + ["k"])["value"].mean().rename("value").reset_index()
    means = means.merge(base.reset_index(), on=keys, how="left")
    means["gain"] = means["value"] - means["baseline"]
    return means


def layer_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per target × direction × k × layer along the main amount arm (main_arm): mean score over runs (each run
    averaged over languages); `arm` names the amount held fixed."""
    scores = main_arm(run_scores(results))
    return scores.groupby(GROUP + ["arm", "k", "layer"], as_index=False).agg(mean=("score", "mean"), n_runs=("run_id", "nunique"))


def best_layer_per_k(results: pd.DataFrame) -> pd.DataFrame:
    """Per target × direction × k along the main amount arm: the layer with the highest mean score, and how far it
    beats the deepest layer."""
    layers = layer_table(results)
    out = []
    for keys, group in layers.groupby(GROUP + ["arm", "k"], sort=True):
        best = group.loc[group["mean"].idxmax()]
        deepest = group.loc[group["layer"].idxmax()]
        out.append(dict(zip(GROUP + ["arm", "k"], keys)) | {
            "layers": len(group), "best_layer": int(best["layer"]), "best_score": float(best["mean"]),
            "deepest_layer": int(deepest["layer"]), "deepest_score": float(deepest["mean"]),
            "best_minus_deepest": float(best["mean"] - deepest["mean"]),
        })
    return pd.DataFrame(out)
