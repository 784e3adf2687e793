"""xit's analysis phase: statistics, tables and figures on the grid's results table, and the HTML report.

    from xit.analysis import load_results, stats, tables, figures
    results = load_results("outputs/smoke/results.parquet")
    stats.scaling_table(results)
"""

from xit.analysis import (answer, controls, effects, figures, figures_answer, findings, items, multiplicity, published,
                          stats, tables)
from xit.analysis.results import HEADLINE_METRIC, RESULT_COLUMNS, load_results, run_scores, validate_results

__all__ = ["HEADLINE_METRIC", "RESULT_COLUMNS", "answer", "controls", "effects", "figures", "figures_answer", "findings", "items", "load_results", "multiplicity", "published", "run_scores",
           "stats", "tables", "validate_results"]
