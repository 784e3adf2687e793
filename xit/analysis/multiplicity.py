"""Multiple comparisons: Holm's step-down adjustment, and one named primary endpoint ahead of the secondary ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xit.errors import XitConfigError

#: The columns that name an endpoint in xit's statistics tables.
ENDPOINT = ("target", "direction", "layer", "metric")


def holm(pvalues: np.ndarray | list[float] | pd.Series) -> np.ndarray:
    """Holm (1979, Scand. J. Stat. 6(2):65-70) step-down adjusted p-values; NaN stays NaN and is not counted in m."""
    p = np.asarray(pvalues, dtype=float)
    present = ~np.isnan(p)
    if ((p[present] < 0) | (p[present] > 1)).any():
        raise XitConfigError(f"p-values must lie in [0, 1]; got {p[present][(p[present] < 0) | (p[present] > 1)][:5].tolist()}")
    adjusted = np.full(p.shape, np.nan)
    values = p[present]
    m = len(values)
    if m == 0:
        return adjusted
    order = np.argsort(values, kind="stable")
    # the i-th smallest p (0-based) is multiplied by m - i; the running maximum keeps the adjustment monotone
    stepped = np.minimum(np.maximum.accumulate((m - np.arange(m)) * values[order]), 1.0)
    ranked = np.empty(m)
    ranked[order] = stepped
    adjusted[present] = ranked
    return adjusted


def _primary_mask(table: pd.DataFrame, primary: dict | tuple) -> np.ndarray:
    """Rows of table matching the primary endpoint (a dict of column values, or a tuple in ENDPOINT order)."""
    wanted = dict(primary) if isinstance(primary, dict) else dict(zip(ENDPOINT, primary))
    unknown = [c for c in wanted if c not in table.columns]
    if unknown:
        raise XitConfigError(f"primary names column(s) {', '.join(unknown)} that the table lacks; columns: {', '.join(table.columns)}")
    mask = np.ones(len(table), dtype=bool)
    for column, value in wanted.items():
        mask &= (table[column] == value).to_numpy()
    if mask.sum() != 1:
        shown = table[list(wanted)].drop_duplicates().head(12).to_dict("records")
        raise XitConfigError(
            f"primary endpoint {wanted} matches {int(mask.sum())} rows; it must name exactly one (add columns such as "
            f"'k' when the table has several rows per endpoint). Endpoints present: {shown}"
        )
    return mask


def primary_then_secondary(table: pd.DataFrame, primary: dict | tuple, p_column: str = "p_value", alpha: float = 0.05,
                           gatekeep: bool = True) -> pd.DataFrame:
    """The primary endpoint first (its p unadjusted), then the secondary ones with Holm-adjusted p-values.

    Adds columns endpoint ('primary' / 'secondary'), p_adjusted and significant. With gatekeep (serial
    gatekeeping), a secondary endpoint counts as significant only when the primary one is, which keeps the
    family-wise error rate of the whole table at alpha; secondaries are sorted by p.
    """
    if p_column not in table.columns:
        raise XitConfigError(f"the table has no {p_column!r} column; pass p_column= one of {', '.join(table.columns)}")
    mask = _primary_mask(table, primary)
    first, rest = table[mask].copy(), table[~mask].copy()
    first["endpoint"], rest["endpoint"] = "primary", "secondary"
    first["p_adjusted"] = first[p_column].astype(float)
    rest["p_adjusted"] = holm(rest[p_column].to_numpy(dtype=float))
    primary_significant = bool(first["p_adjusted"].iloc[0] < alpha)
    first["significant"] = primary_significant
    rest["significant"] = (rest["p_adjusted"] < alpha) & (primary_significant or not gatekeep)
    rest = rest.sort_values("p_adjusted", kind="stable", na_position="last")
    return pd.concat([first, rest], ignore_index=True)
