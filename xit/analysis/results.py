"""Load and validate the grid's results table; per-run scores that every analysis starts from."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import REPO_ROOT
from xit.retrieval.targets import TARGETS

#: The columns the grid writes (docs/contracts.md, "Result rows").
RESULT_COLUMNS = [
    "run_id", "k", "tasks", "seed", "model", "checkpoint", "layer",
    "target", "language", "direction", "metric", "value", "n",
]
#: Run columns of design grids (docs/grid.md; kept when present, older tables lack them).
RUN_EXTRA_COLUMNS = ["kind", "budget_policy", "total_steps", "steps_per_task", "alpha"]
#: Setup columns retrieval rows carry since RESULTS_VERSION 2 (kept when present; older tables lack them).
SETUP_COLUMNS = ["split", "threshold_source", "prefix", "pooling", "max_length", "precision"]
#: Run kinds whose runs enter the statistics in k: trained on intermediate tasks, or the untrained baseline.
TASK_KINDS = ("task", "none")
#: The metric each target is judged by (XTREME / XTREME-R conventions, all on a 0-100 scale), from the
#: target registry: Tatoeba accuracy, BUCC F1 at a carried threshold (never the oracle), mAP@20.
HEADLINE_METRIC = TARGETS.headline_metrics()
#: Readable names for axis labels and tables.
TARGET_LABEL = {name: spec.label for name, spec in TARGETS.items()}
METRIC_LABEL = {"accuracy": "accuracy (%)", "f1": "F1 (%)", "map@20": "mAP@20 (%)"}

HOW_TO_PRODUCE = (
    "Produce it with `python -m xit run params/smoke.yaml` (CI-sized, minutes on CPU) or "
    "`python -m xit run params/demo.yaml` (the README's offline demo grid); the grid collects every run "
    "into <output_dir>/results.parquet, e.g. outputs/smoke/results.parquet."
)


def resolve_notebook_path(path: str | Path) -> Path:
    """Resolve a path parameter: absolute as given; relative to the working directory if it exists there,
    else relative to notebooks/ (where Jupyter runs the notebooks), so the defaults work from anywhere."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    here, notebooks = (Path.cwd() / path).resolve(), (REPO_ROOT / "notebooks" / path).resolve()
    if here.exists():
        return here
    if notebooks.exists() or path.parts[:1] == ("..",):
        return notebooks
    return here


def _runs_text(run_ids: list[str], limit: int = 8) -> str:
    shown = ", ".join(map(str, run_ids[:limit]))
    return shown + (f" ... ({len(run_ids)} runs)" if len(run_ids) > limit else "")


def validate_results(df: pd.DataFrame, where: str = "results table", require_baseline: bool = True) -> pd.DataFrame:
    """Check a results table has xit's columns, runs, a k=0 baseline and clean values; return it typed."""
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise XitConfigError(
            f"{where} is missing column(s) {', '.join(missing)}; expected {', '.join(RESULT_COLUMNS)}. "
            f"It does not look like a table collected by xit's grid. {HOW_TO_PRODUCE}"
        )
    if df.empty or df["run_id"].dropna().empty:
        raise XitConfigError(f"{where} has no rows: no run has finished yet. {HOW_TO_PRODUCE}")
    df = df[RESULT_COLUMNS + [c for c in RUN_EXTRA_COLUMNS + SETUP_COLUMNS if c in df.columns]].copy()
    for column in ("run_id", "k", "seed", "layer", "target", "metric", "value"):
        empty = df[column].isna()
        if column == "seed":  # the k=0 baseline is evaluation only: the grid leaves its seed empty
            empty &= pd.to_numeric(df["k"], errors="coerce") != 0
        bad = df.loc[empty, "run_id"].dropna().astype(str).unique().tolist()
        if empty.any():
            raise XitConfigError(
                f"{where} has empty {column!r} values in {int(empty.sum())} row(s) "
                f"(runs: {_runs_text(bad) or 'unknown'}). Re-run those runs: delete outputs/runs/<run_id>/ and "
                f"run the grid again (finished runs are skipped)."
            )
    for column in ("k", "layer"):
        df[column] = df[column].astype("int64")
    df["seed"] = pd.array(df["seed"], dtype="Int64")
    df["value"] = df["value"].astype("float64")
    df["n"] = pd.to_numeric(df["n"], errors="coerce")
    for column in ("run_id", "tasks", "model", "checkpoint", "target", "language", "direction", "metric"):
        df[column] = df[column].fillna("").astype(str)
    if "kind" in df.columns:  # tables written before run kinds existed have no kind: every run is a task run
        kind = df["kind"].fillna("").astype(str)
        df["kind"] = kind.where(kind != "", np.where(df["k"] == 0, "none", "task"))
    key = ["run_id", "layer", "target", "language", "direction", "metric"]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        runs = df.loc[dup, "run_id"].unique().tolist()
        raise XitConfigError(
            f"{where} holds the same result twice for run(s) {_runs_text(runs)}: a run was collected more than once. "
            "Re-collect with `python -m xit run <grid>.yaml` (it rewrites results.parquet with every run once)."
        )
    headline = df[df["metric"] == df["target"].map(HEADLINE_METRIC)]
    if headline.empty:
        raise XitConfigError(
            f"{where} has no headline metric rows ({', '.join(f'{t}: {m}' for t, m in HEADLINE_METRIC.items())}); "
            f"metrics present: {', '.join(sorted(df['metric'].unique()))}. {HOW_TO_PRODUCE}"
        )
    out_of_range = headline[(headline["value"] < 0) | (headline["value"] > 100)]
    if not out_of_range.empty:
        raise XitConfigError(
            f"{where} has headline values outside 0-100 (runs: {_runs_text(out_of_range['run_id'].unique().tolist())}); "
            "xit writes accuracy/F1/mAP in percent. Re-collect the table with the current xit."
        )
    without = sorted(set(df["run_id"]) - set(headline["run_id"]))
    if without:
        raise XitConfigError(
            f"{where}: run(s) {_runs_text(without)} have no headline metric rows, only "
            f"{', '.join(sorted(df.loc[df['run_id'].isin(without), 'metric'].unique()))}. "
            "Their evaluation did not finish; delete outputs/runs/<run_id>/ and re-run the grid."
        )
    if require_baseline and not (df["k"] == 0).any():
        present = ", ".join(map(str, sorted(df["k"].unique())))
        raise XitConfigError(
            f"{where} has no k=0 baseline run (k present: {present}); gains are measured against the untrained "
            "encoder. Add 0 to the grid's k list and run it again with `python -m xit run <grid>.yaml` "
            "(finished runs are skipped, only the baseline runs)."
        )
    return df


class MissingRunsWarning(UserWarning):
    """Runs of the grid's design have no rows in the results table (failed or not run yet)."""


def read_grid(results_path: str | Path) -> dict:
    """grid.json beside a results table ({} when absent)."""
    path = resolve_notebook_path(results_path).parent / "grid.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def missing_runs(path: str | Path, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """Runs in the grid's design file(s) beside the table (design-<grid>.parquet) that have no rows in it.

    When grid.json names the grid that wrote the table and its design file is there, only that design counts:
    a pilot sharing the folder (and some runs) plans runs, such as extra seeds, that the table's grid does not.
    """
    resolved = resolve_notebook_path(path)
    present = set() if results is None or "run_id" not in results else set(results["run_id"].astype(str))
    frames = []
    own = resolved.parent / f"design-{read_grid(resolved).get('name', '')}.parquet"
    for design_file in [own] if own.is_file() else sorted(resolved.parent.glob("design-*.parquet")):
        design = pd.read_parquet(design_file)
        if present and not present & set(design["run_id"].astype(str)):
            continue  # another grid's design sharing the output folder
        frames.append(design.assign(grid=design_file.stem.removeprefix("design-")))
    if not frames:
        return pd.DataFrame(columns=["run_id", "k", "tasks", "seed", "grid", "runs_dir"])
    design = pd.concat(frames, ignore_index=True).drop_duplicates("run_id").assign(runs_dir=str(resolved.parent / "runs"))
    columns = ["run_id", "k", "tasks", "seed", "grid", "runs_dir"]
    return design[~design["run_id"].astype(str).isin(present)][columns].reset_index(drop=True)


def describe_missing(missing: pd.DataFrame, limit: int = 8) -> str:
    """'k=2 anli+ccg seed 0 (run 1a2b...)' for the first runs, and the command that finishes them."""
    runs = [f"k={r.k} {r.tasks or 'baseline'}{'' if pd.isna(r.seed) else f' seed {r.seed}'} (run {r.run_id})"
            for r in missing.head(limit).itertuples()]
    more = f" and {len(missing) - limit} more" if len(missing) > limit else ""
    grids = ", ".join(f"`python -m xit run params/{g}.yaml`" for g in sorted(missing["grid"].unique()))
    runs_dir = missing["runs_dir"].iloc[0] if "runs_dir" in missing and len(missing) else "<output_dir>/runs"
    return (f"{len(missing)} run(s) of the grid design have no results: {'; '.join(runs)}{more}. "
            f"Finish them with {grids} (finished runs are skipped; a failed run's error is in {runs_dir}/<run_id>/error.txt).")


def load_results(path: str | Path, require_baseline: bool = True) -> pd.DataFrame:
    """Read and validate a results.parquet written by the grid (relative paths resolve against notebooks/).

    Runs of the grid's design (design-<grid>.parquet beside the table) that have no rows are named in a
    MissingRunsWarning; an empty table or a missing baseline names them in the error.
    """
    resolved = resolve_notebook_path(path)
    if not resolved.is_file():
        raise DataNotFoundError(f"results table {str(resolved)!r} not found. {HOW_TO_PRODUCE}")
    try:
        df = pd.read_parquet(resolved)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise XitConfigError(f"results table {str(resolved)!r} could not be read as parquet ({err}). {HOW_TO_PRODUCE}") from err
    missing = missing_runs(resolved, df)
    try:
        results = validate_results(df, where=f"results table {str(resolved)!r}", require_baseline=require_baseline)
    except XitConfigError as err:
        if missing.empty:
            raise
        raise XitConfigError(f"{err} {describe_missing(missing)}") from err
    if not missing.empty:
        warnings.warn(describe_missing(missing), MissingRunsWarning, stacklevel=2)
    return results


def headline_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Per-language rows of each target's headline metric (overall 'all' rows only where a target has no others)."""
    rows = results[results["metric"] == results["target"].map(HEADLINE_METRIC)]
    per_language = rows["language"] != "all"
    has_languages = rows[per_language].groupby(["run_id", "target", "direction"]).size()
    keyed = pd.MultiIndex.from_frame(rows[["run_id", "target", "direction"]])
    keep = per_language | ~keyed.isin(has_languages.index)
    return rows[np.asarray(keep)].reset_index(drop=True)


def primary_layer(results: pd.DataFrame) -> int:
    """The layer the headline analyses use: the deepest layer evaluated in every run."""
    per_run = results.groupby("run_id")["layer"].agg(lambda s: set(s.tolist()))
    common = set.intersection(*per_run.tolist())
    if not common:
        raise XitConfigError(
            "no layer is evaluated in every run of the results table; pass layer=<hidden_states index> explicitly "
            f"(layers present: {sorted(results['layer'].unique().tolist())})"
        )
    return max(common)


def select_layer(results: pd.DataFrame, layer: int | None) -> tuple[pd.DataFrame, int]:
    """Rows of one layer (the primary layer when layer is None); an absent layer fails with the ones present."""
    chosen = primary_layer(results) if layer is None else int(layer)
    rows = results[results["layer"] == chosen]
    if rows.empty:
        raise XitConfigError(f"layer={layer} was not evaluated; layers present: {sorted(results['layer'].unique().tolist())}")
    return rows, chosen


def run_scores(results: pd.DataFrame, layer: int | None = None) -> pd.DataFrame:
    """One row per run × target × direction × layer: mean over languages, worst language, bottom quartile."""
    rows = headline_rows(results)
    if layer is not None:
        rows = rows[rows["layer"] == int(layer)]
    keys = ["run_id", "k", "tasks", "seed", "model", "layer", "target", "direction", "metric"]

    def summarise(group: pd.DataFrame) -> pd.Series:
        values = group["value"].to_numpy()
        worst = int(np.argmin(values))
        quartile = np.sort(values)[: max(1, int(np.ceil(len(values) / 4)))]
        return pd.Series({
            "score": float(values.mean()),
            "n_languages": len(values),
            "worst": float(values[worst]),
            "worst_language": str(group["language"].iloc[worst]),
            "bottom_quartile": float(quartile.mean()),
            "language_std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
        })

    scores = rows.groupby(keys, sort=True, dropna=False).apply(summarise, include_groups=False).reset_index()
    scores["n_languages"] = scores["n_languages"].astype("int64")
    extra = [c for c in RUN_EXTRA_COLUMNS if c in results.columns]
    if extra:  # one value per run: merged after the grouping, so NA budgets (k=0) need no NA-safe group keys
        per_run = results.drop_duplicates("run_id").set_index("run_id")[extra]
        scores = scores.join(per_run, on="run_id")
    return scores


def task_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows (of a results or run-score table) of runs that enter the statistics in k: kind task or none (the
    baseline); control runs (shuffled labels, L2-SP, interpolation, MLM) are left out. Without a kind column, all."""
    if "kind" not in table.columns:
        return table
    return table[table["kind"].astype(str).isin(TASK_KINDS)].reset_index(drop=True)


def control_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of control runs (kind other than task / none); empty without a kind column."""
    if "kind" not in table.columns:
        return table.iloc[:0]
    return table[~table["kind"].astype(str).isin(TASK_KINDS)].reset_index(drop=True)


def task_names(results: pd.DataFrame) -> list[str]:
    """Every intermediate task used by some run, sorted."""
    names = {name for tasks in results["tasks"].unique() for name in str(tasks).split("+") if name}
    return sorted(names)


def run_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run: id, k, tasks, seed, model, checkpoint, layers and targets evaluated."""
    grouped = results.groupby(["run_id", "k", "tasks", "seed", "model", "checkpoint"], sort=False, dropna=False)
    table = grouped.agg(
        layers=("layer", lambda s: ", ".join(map(str, sorted(s.unique())))),
        targets=("target", lambda s: ", ".join(sorted(s.unique()))),
        rows=("value", "size"),
    ).reset_index()
    table["tasks"] = table["tasks"].replace("", "— (baseline)")
    return table.sort_values(["k", "tasks", "seed"]).reset_index(drop=True)
