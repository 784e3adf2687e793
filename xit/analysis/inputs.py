"""What every analysis notebook starts from: the results table, the primary endpoint, run scores, and the files
beside the table (grid.json, the design table, drift.parquet, runs/<id>/items.parquet)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from xit.analysis.results import (
    HEADLINE_METRIC,
    load_results,
    read_grid,
    resolve_notebook_path,
    run_scores,
    task_rows,
)
from xit.errors import XitConfigError

#: Used when grid.json names no primary endpoint (grids written before designs existed).
FALLBACK_ENDPOINT = {"target": "tatoeba", "direction": "xx->en", "metric": "accuracy"}


@dataclass(frozen=True)
class Endpoint:
    """The number analysed first: target, direction, layer (a hidden_states index >= 0), metric, and where it came from."""

    target: str
    direction: str
    layer: int
    metric: str
    source: str

    def key(self) -> dict:
        """The endpoint as column values (for xit.analysis.multiplicity.primary_then_secondary)."""
        return {"target": self.target, "direction": self.direction, "layer": self.layer, "metric": self.metric}

    @property
    def label(self) -> str:
        """'tatoeba xx->en accuracy, layer 12'."""
        return f"{self.target} {self.direction} {self.metric}, layer {self.layer}"

    def rows(self, table: pd.DataFrame) -> pd.DataFrame:
        """Rows of a table (with target/direction/layer/metric columns) at this endpoint."""
        mask = pd.Series(True, index=table.index)
        for column, value in self.key().items():
            if column in table.columns:
                mask &= table[column] == value
        return table[mask].reset_index(drop=True)


def _resolve_layer(layer: int, layers: list[int]) -> int:
    """A negative layer counts from the deepest evaluated layer (-1 = the deepest, as eval.layers means it)."""
    return max(layers) + 1 + layer if layer < 0 else layer


def primary_endpoint(results: pd.DataFrame, grid: dict) -> Endpoint:
    """grid.json's primary_endpoint resolved against the table; without one, Tatoeba xx->en accuracy at the deepest layer."""
    layers = sorted(int(v) for v in results["layer"].unique())
    named = grid.get("primary_endpoint")
    if named:
        endpoint = Endpoint(str(named["target"]), str(named["direction"]), _resolve_layer(int(named["layer"]), layers),
                            str(named["metric"]), "grid.json")
    else:
        present = results[["target", "direction"]].drop_duplicates()
        wanted = FALLBACK_ENDPOINT
        if not ((present["target"] == wanted["target"]) & (present["direction"] == wanted["direction"])).any():
            first = present.sort_values(["target", "direction"]).iloc[0]
            wanted = {"target": first["target"], "direction": first["direction"], "metric": HEADLINE_METRIC[first["target"]]}
        endpoint = Endpoint(wanted["target"], wanted["direction"], layers[-1], wanted["metric"],
                            "not named by the grid (no primary_endpoint in grid.json): xit's default, "
                            f"{wanted['target']} {wanted['direction']} {wanted['metric']} at the deepest layer")
    rows = results[(results["target"] == endpoint.target) & (results["direction"] == endpoint.direction)
                   & (results["layer"] == endpoint.layer) & (results["metric"] == endpoint.metric)]
    if rows.empty:
        present = results[results["metric"] == results["target"].map(HEADLINE_METRIC)][["target", "direction", "layer", "metric"]]
        shown = present.drop_duplicates().head(12).to_dict("records")
        raise XitConfigError(f"the primary endpoint {endpoint.label} ({endpoint.source}) has no rows in the results table; "
                             f"endpoints present: {shown}. Fix primary_endpoint in the grid file (and grid.json) to one of those.")
    if endpoint.metric != HEADLINE_METRIC.get(endpoint.target):
        raise XitConfigError(f"primary endpoint metric {endpoint.metric!r} is not {endpoint.target}'s headline metric "
                             f"{HEADLINE_METRIC.get(endpoint.target)!r}, the one xit's run scores use; name that one.")
    return endpoint


@dataclass(frozen=True)
class AnalysisInputs:
    """The loaded tables: every run (``all_results``, controls included), task runs and the baseline (``results``),
    the primary endpoint, the layer analysed, run scores, and where figures and CSV tables go."""

    results_path: Path
    all_results: pd.DataFrame
    results: pd.DataFrame
    primary: Endpoint
    layer: int
    scores: pd.DataFrame
    all_scores: pd.DataFrame
    figures_dir: Path
    tables_dir: Path

    @property
    def folder(self) -> Path:
        """The grid's output folder (where results.parquet lies)."""
        return self.results_path.parent

    def grid(self) -> dict:
        """grid.json beside the table ({} when absent)."""
        return read_grid(self.results_path)

    def design(self) -> pd.DataFrame:
        """The design table(s) design-<grid>.parquet beside the table that share runs with it (empty when absent)."""
        present = set(self.all_results["run_id"])
        frames = [frame.assign(grid=path.stem.removeprefix("design-")) for path in sorted(self.folder.glob("design-*.parquet"))
                  if present & set((frame := pd.read_parquet(path))["run_id"].astype(str))]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run_id", "design", "grid"])

    def drift(self) -> pd.DataFrame:
        """drift.parquet beside the table, restricted to this table's runs (empty when absent)."""
        path = self.folder / "drift.parquet"
        if not path.is_file():
            return pd.DataFrame(columns=["run_id", "k", "kind", "layer", "metric", "language", "value"])
        drift = pd.read_parquet(path)
        return drift[drift["run_id"].astype(str).isin(set(self.all_results["run_id"]))].reset_index(drop=True)

    def items_for(self, run_ids: list[str], where: dict | None = None) -> pd.DataFrame:
        """Per-item outcomes of these runs (runs/<id>/items.parquet), headline metric of each target only, text columns
        as str; runs without the file are skipped (empty when none has one). ``where`` (column: value) is applied
        while reading, so a study's ~500k rows per run are not all loaded to keep one endpoint's ~8k."""
        frames = []
        for run_id in dict.fromkeys(run_ids):
            path = self.folder / "runs" / str(run_id) / "items.parquet"
            if path.is_file():
                names = set(pq.read_schema(path).names)
                filters = [(c, "==", v) for c, v in (where or {}).items() if c in names] or None
                items = pd.read_parquet(path, filters=filters)
                items = items[items["metric"].astype(str) == items["target"].astype(str).map(HEADLINE_METRIC)]
                frames.append(items)
        if not frames:
            return pd.DataFrame(columns=["run_id", "target", "language", "direction", "layer", "item", "value"])
        items = pd.concat([f.astype({c: str for c in f.columns if isinstance(f[c].dtype, pd.CategoricalDtype)}) for f in frames],
                          ignore_index=True)
        return items.astype({"layer": "int64", "value": "float64"})

    def primary_items(self, run_ids: list[str]) -> pd.DataFrame:
        """Per-item outcomes of these runs at the primary endpoint (what every paired item bootstrap reads)."""
        return self.primary.rows(self.items_for(run_ids, where=self.primary.key()))

    def save_table(self, table: pd.DataFrame, name: str) -> pd.DataFrame:
        """Write a table as output_dir/tables/<name>.csv (for readers and tests) and return it unchanged."""
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(self.tables_dir / f"{name}.csv", index=not isinstance(table.index, pd.RangeIndex))
        return table


def load_analysis(results_path: str | Path, output_dir: str | Path, layer: int | None = None) -> AnalysisInputs:
    """Load a grid's results table for an analysis notebook (paths relative to the notebook or the working dir).

    layer: the hidden_states index the per-layer tables use (None: the primary endpoint's layer).
    """
    path = resolve_notebook_path(results_path)
    all_results = load_results(path)
    primary = primary_endpoint(all_results, read_grid(path))
    layer = primary.layer if layer is None else int(layer)
    results = task_rows(all_results)
    all_scores = run_scores(all_results)
    out = resolve_notebook_path(output_dir)
    return AnalysisInputs(path, all_results, results, primary, layer, task_rows(all_scores[all_scores["layer"] == layer]),
                          all_scores, out / "figures", out / "tables")
