"""What every analysis notebook starts from: the results table, the layer analysed, run scores, the figures folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xit.analysis.results import (
    load_results,
    primary_layer,
    resolve_notebook_path,
    run_scores,
)


@dataclass(frozen=True)
class AnalysisInputs:
    """The loaded table, the layer analysed (given or the deepest evaluated in every run), its run scores."""

    results: pd.DataFrame
    layer: int
    scores: pd.DataFrame
    figures_dir: Path


def load_analysis(results_path: str | Path, output_dir: str | Path, layer: int | None = None) -> AnalysisInputs:
    """Load a grid's results table for an analysis notebook (paths relative to the notebook or the working dir)."""
    results = load_results(results_path)
    layer = primary_layer(results) if layer is None else layer
    return AnalysisInputs(results, layer, run_scores(results, layer=layer), resolve_notebook_path(output_dir) / "figures")
