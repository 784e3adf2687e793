"""Per-item outcomes of a retrieval evaluation: what a paired bootstrap over items resamples.

Every evaluator records, beside its aggregate rows, one value per evaluated item (a Tatoeba source
sentence and direction, a LAReQA question, a Mewsli-X mention, a mined source sentence), so a run's
score, the difference of two runs on the same items and per-language numbers can get intervals
(Koehn 2004, "Statistical Significance Tests for Machine Translation Evaluation", EMNLP; the paired
bootstrap over test items). Columns: `ITEM_COLUMNS`, then the run_info keys (as on result rows).

- mean metrics (``accuracy``, ``map@20``, ``same_language_top1``): the mean of the item values per
  (target, language, direction, layer, metric) is the result row's value.
- ``gold_rank`` (Tatoeba): item only, the rank of the gold translation (1 = first).
- mining (BUCC, bucc-tatoeba): F1 is not a mean of items. Each source sentence with a gold pair or a
  mined pair at the headline threshold carries three counts (`MINING_COUNTS`); summed within a
  ``stratum`` (the carried-threshold half, ``A``/``B``, or ``all``) they give that stratum's P/R/F1,
  and the row is the mean over strata (`aggregate_items`). A resample of source sentences within each
  stratum therefore gives P/R/F1 at the fixed headline threshold (thresholds are not re-tuned).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xit.io import write_parquet_atomic

#: The stratum of items that are not split in halves.
NO_STRATUM = "all"
#: The columns an evaluator fills (suite.evaluate_encoder_with_items adds model and checkpoint in front).
ITEM_FIELDS = ["layer", "target", "language", "direction", "metric", "item", "value", "stratum",
               "split", "threshold_source", "prefix", "pooling", "max_length", "precision"]
ITEM_COLUMNS = ["model", "checkpoint", *ITEM_FIELDS]
#: Per mined source sentence: gold pairs, mined pairs at or above the threshold, and those that are gold.
MINING_COUNTS = ("gold_pairs", "mined_pairs", "correct_pairs")
#: Item metrics with no result row of the same name.
ITEM_ONLY_METRICS = ("gold_rank", *MINING_COUNTS)
_INTEGER_COLUMNS = {"layer": np.int16, "max_length": np.int32}
_KEYS = ["target", "language", "direction", "layer", "metric"]


class ItemCollector:
    """Collects per-item values in chunks (one chunk = one target, language, direction, layer and metric)."""

    def __init__(self) -> None:
        self._setups: list[dict[str, Any]] = []
        self._items: list[np.ndarray] = []
        self._values: list[np.ndarray] = []

    def add(self, setup: dict[str, Any], items: Sequence[str], values: np.ndarray) -> None:
        """Record one chunk: every ITEM_FIELDS column but item and value is the same for the chunk."""
        values = np.asarray(values, dtype=np.float64)
        if len(items) != len(values):
            raise ValueError(f"{len(items)} item ids for {len(values)} values ({setup})")
        self._setups.append(setup)
        self._items.append(np.asarray(items, dtype=object))
        self._values.append(values)

    def frame(self) -> pd.DataFrame:
        """The collected items: categorical text columns, small integer columns, float64 values."""
        counts = np.array([len(v) for v in self._values], dtype=np.int64)
        columns: dict[str, Any] = {}
        for name in ITEM_FIELDS:
            if name == "item":
                columns[name] = pd.Categorical(np.concatenate(self._items) if self._items else np.array([], dtype=object))
            elif name == "value":
                columns[name] = np.concatenate(self._values) if self._values else np.zeros(0)
            else:
                columns[name] = _repeated([s[name] for s in self._setups], counts, _INTEGER_COLUMNS.get(name))
        return pd.DataFrame(columns)


def _repeated(values: list[Any], counts: np.ndarray, integer: type | None) -> Any:
    """One value per chunk, repeated over the chunk's items: categorical (text) or a small integer dtype."""
    if integer is not None:
        return np.repeat(np.asarray(values, dtype=integer), counts)
    categories = list(dict.fromkeys(str(v) for v in values))
    code = {c: i for i, c in enumerate(categories)}
    codes = np.repeat(np.array([code[str(v)] for v in values], dtype=np.int32), counts)
    return pd.Categorical.from_codes(codes, categories=categories)


def stamp(items: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """Add constant columns (model, checkpoint, run_info) as categoricals; lists and dicts as their str()."""
    out = items.copy()
    for key, value in columns.items():
        text = value if not isinstance(value, (list, tuple, dict)) else str(value)
        if isinstance(text, (bool, np.bool_, int, np.integer, float, np.floating)) or text is None:
            out[key] = text  # numeric run_info (k, seed) keeps its type, as on result rows
        else:
            out[key] = pd.Categorical([str(text)] * len(out))
    return out


def compact_items(items: pd.DataFrame) -> pd.DataFrame:
    """The items as stored: text columns categorical, values float32 (|error| <= 100 * 2**-24 per value)."""
    out = items.copy()
    for name in out.columns:
        if name == "value":
            out[name] = out[name].astype(np.float32)
        elif out[name].dtype == object or pd.api.types.is_string_dtype(out[name].dtype):
            out[name] = out[name].astype("category")
    return out


def write_items(items: pd.DataFrame, path: str | Path) -> Path:
    """Write an items table compactly (`compact_items`) and atomically, e.g. to runs/<id>/items.parquet."""
    return write_parquet_atomic(compact_items(items), path)


def _mean_rows(items: pd.DataFrame) -> pd.DataFrame:
    means = items[~items["metric"].isin(ITEM_ONLY_METRICS)]
    grouped = means.groupby(_KEYS, observed=True, sort=True)["value"]
    return grouped.agg(value="mean", n="size").reset_index()


def _mining_rows(items: pd.DataFrame) -> pd.DataFrame:
    counts = items[items["metric"].isin(MINING_COUNTS)]
    if counts.empty:
        return pd.DataFrame(columns=[*_KEYS, "value", "n"])
    keys = ["target", "language", "direction", "layer"]
    sums = counts.pivot_table(index=[*keys, "stratum"], columns="metric", values="value", aggfunc="sum", observed=True).reset_index()
    tp, mined, gold = (sums[m].to_numpy(np.float64) for m in ("correct_pairs", "mined_pairs", "gold_pairs"))
    # As xit.retrieval.metrics.prf_at_threshold: 0 where nothing was predicted (or no gold).
    p = np.divide(tp, mined, out=np.zeros_like(tp), where=mined > 0)
    r = np.divide(tp, gold, out=np.zeros_like(tp), where=gold > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros_like(tp), where=p + r > 0)
    sums = sums.assign(precision=100 * p, recall=100 * r, f1=100 * f, n=gold)
    per_stratum = sums.melt(id_vars=[*keys, "stratum", "n"], value_vars=["f1", "precision", "recall"], var_name="metric")
    # The row is the mean over strata (carried halves), its n the gold pairs of all strata.
    out = per_stratum.groupby([*keys, "metric"], observed=True, sort=True).agg(value=("value", "mean"), n=("n", "sum")).reset_index()
    out["n"] = out["n"].astype(np.int64)
    return out[[*_KEYS, "value", "n"]]


def aggregate_items(items: pd.DataFrame) -> pd.DataFrame:
    """Per-language row values recomputed from items: means, and P/R/F1 from mining counts.

    Columns target, language, direction, layer, metric, value, n. This is the statistic a bootstrap
    resample is scored with; on the full item set it equals the result rows (language != 'all').
    """
    parts = [frame for frame in (_mean_rows(items), _mining_rows(items)) if len(frame)]
    if not parts:
        return pd.DataFrame(columns=[*_KEYS, "value", "n"])
    out = pd.concat([p.astype({"target": str, "language": str, "direction": str, "metric": str}) for p in parts], ignore_index=True)
    out["layer"] = out["layer"].astype(np.int64)
    return out.sort_values(_KEYS, ignore_index=True)


__all__ = ["ITEM_COLUMNS", "ITEM_FIELDS", "ITEM_ONLY_METRICS", "MINING_COUNTS", "NO_STRATUM", "ItemCollector",
           "aggregate_items", "compact_items", "stamp", "write_items"]
