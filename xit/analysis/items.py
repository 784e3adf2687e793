"""Per-item uncertainty: a paired bootstrap over evaluation items, resampled within each language.

A per-item table has one row per run × target × direction × layer × language × item, with the item's outcome in
``value`` (1/0 for a correct Tatoeba retrieval, average precision for a LAReQA question, ...). A run's score is the
mean over languages of its per-language item means, times ``scale`` (100: percent, like the results table). Each
bootstrap replicate redraws the items of every language with replacement, the same draw for every run evaluated
on the same items (so differences between runs are paired), seeded per target × direction × layer × language.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pandas as pd

from xit.analysis.stats import small_sample_note
from xit.errors import XitConfigError

ITEM_COLUMNS = ["run_id", "target", "language", "direction", "layer", "item", "value"]
ITEM_GROUP = ["target", "direction", "layer"]


def validate_items(items: pd.DataFrame) -> pd.DataFrame:
    """Check a per-item table (columns, one row per run × endpoint × language × item, numeric values)."""
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise XitConfigError(f"per-item table is missing column(s) {', '.join(missing)}; expected {', '.join(ITEM_COLUMNS)}.")
    items = items[ITEM_COLUMNS].copy()
    items["value"] = pd.to_numeric(items["value"], errors="coerce")
    if items["value"].isna().any():
        bad = items.loc[items["value"].isna(), "run_id"].astype(str).unique()[:5].tolist()
        raise XitConfigError(f"per-item table has empty or non-numeric values (runs {', '.join(bad)}); re-run their evaluation.")
    items["item"] = items["item"].astype(str)
    duplicated = items.duplicated(["run_id", *ITEM_GROUP, "language", "item"])
    if duplicated.any():
        row = items[duplicated].iloc[0]
        raise XitConfigError(f"item {row['item']!r} appears twice for run {row['run_id']} {row['target']} {row['language']}; "
                             "each run has one outcome per item.")
    return items


def _draws(key: tuple, n_items: int, n_boot: int, seed: int) -> np.ndarray:
    """n_boot × n_items: how often each item is drawn in each replicate; the same for every run on these items."""
    return _draws_for(tuple(str(part) for part in key), n_items, n_boot, seed)


# A pure function of its arguments: memoised because every pair of runs on one endpoint and language redraws the
# same matrix (the MLM comparison pairs each MLM run with every budget-matched task run). Read-only, so no caller
# can change what the next one gets.
@functools.lru_cache(maxsize=64)
def _draws_for(key: tuple[str, ...], n_items: int, n_boot: int, seed: int) -> np.ndarray:
    stream = zlib.crc32("|".join(key).encode())  # str: stable across numpy scalar reprs
    picks = np.random.default_rng([seed, stream]).integers(0, n_items, size=(n_boot, n_items))
    # counts @ values / n is each replicate's mean, ~10x faster than averaging values[picks]
    flat = (picks + np.arange(n_boot)[:, None] * n_items).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_items).reshape(n_boot, n_items).astype(float)
    counts.flags.writeable = False
    return counts


def _matrix(group: pd.DataFrame, run_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(language × item) rows × runs outcomes, items sorted by id, and each row's language; refuses runs that were
    evaluated on different items."""
    language, languages = pd.factorize(np.asarray(group["language"], dtype=str), sort=True)
    item, item_ids = pd.factorize(np.asarray(group["item"], dtype=str), sort=True)
    keys, row = np.unique(language * len(item_ids) + item, return_inverse=True)  # sorted by language, then item
    run, value = np.asarray(group["run_id"], dtype=str), group["value"].to_numpy(dtype=float)
    values = np.full((len(keys), len(run_ids)), np.nan)
    for j, run_id in enumerate(run_ids):
        values[row[run == run_id], j] = value[run == run_id]
    row_language = np.asarray(languages, dtype=str)[keys // len(item_ids)]
    gaps = np.isnan(values).any(axis=1)
    if gaps.any():
        raise XitConfigError(
            f"runs {', '.join(run_ids)} were evaluated on different items for {group['target'].iloc[0]} "
            f"{row_language[gaps][0]} ({int(gaps.sum())} items missing from some run): pair runs evaluated on the same items."
        )
    return values, row_language


def _replicates(group: pd.DataFrame, run_ids: list[str], keys: tuple, n_boot: int, seed: int, scale: float):
    """Per language: observed means (L × runs), replicate means (B × L × runs), item counts, language names."""
    values, row_language = _matrix(group, run_ids)
    languages = np.unique(row_language).tolist()
    observed, boot, counts = [], [], []
    for language in languages:
        block = values[row_language == language] * scale
        observed.append(block.mean(axis=0))
        boot.append(_draws((*keys, language), len(block), n_boot, seed) @ block / len(block))
        counts.append(len(block))
    return np.array(observed), np.stack(boot, axis=1), np.array(counts), languages


def _interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _summaries(observed: np.ndarray, boot: np.ndarray, languages: list[str]) -> list[tuple[str, float, np.ndarray, str]]:
    """(row name, observed, replicates, worst language) for each language, the language mean and the worst language."""
    rows = [(lang, float(observed[i]), boot[:, i], "") for i, lang in enumerate(languages)]
    rows.append(("mean", float(observed.mean()), boot.mean(axis=1), ""))
    rows.append(("worst", float(observed.min()), boot.min(axis=1), languages[int(np.argmin(observed))]))
    return rows


def _note(name: str, counts: np.ndarray, languages: list[str]) -> str:
    n = int(counts.min()) if name in ("mean", "worst") else int(counts[languages.index(name)])
    return small_sample_note(n, "items")


def item_scores(items: pd.DataFrame, n_boot: int = 2000, level: float = 0.95, seed: int = 0, scale: float = 100.0) -> pd.DataFrame:
    """Per run × target × direction × layer: each language's score, the language mean and the worst language, with
    percentile intervals from the item bootstrap (language 'mean' / 'worst'; worst_language names the worst)."""
    items = validate_items(items)
    out = []
    for keys, group in items.groupby(ITEM_GROUP, sort=True):
        for run_id, rows in group.groupby("run_id", sort=True):
            observed, boot, counts, languages = _replicates(rows, [run_id], keys, n_boot, seed, scale)
            for name, value, draws, worst in _summaries(observed[:, 0], boot[:, :, 0], languages):
                note = _note(name, counts, languages)
                low, high = _interval(draws, level) if not note else (np.nan, np.nan)
                n_items = int(counts.sum()) if name in ("mean", "worst") else int(counts[languages.index(name)])
                out.append({"run_id": run_id, **dict(zip(ITEM_GROUP, keys)), "language": name, "n_items": n_items,
                            "score": value, "ci_low": low, "ci_high": high, "worst_language": worst, "note": note})
    return pd.DataFrame(out)


def item_difference(items: pd.DataFrame, run_a: str, run_b: str, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                    scale: float = 100.0) -> pd.DataFrame:
    """run_a minus run_b on the same items, per target × direction × layer × language (and 'mean', 'worst'), with a
    paired item-bootstrap interval and two-sided p = min(1, 2·min((1 + #{d* <= 0}), (1 + #{d* >= 0})) / (1 + n_boot))."""
    items = validate_items(items)
    for run in (run_a, run_b):
        if run not in set(items["run_id"]):
            raise XitConfigError(f"run {run!r} has no rows in the per-item table; runs present: {', '.join(sorted(items['run_id'].unique())[:10])}")
    pair = items[items["run_id"].isin([run_a, run_b])]
    out = []
    for keys, group in pair.groupby(ITEM_GROUP, sort=True):
        if group["run_id"].nunique() < 2:
            continue  # an endpoint evaluated for one of the two runs only: nothing to pair
        observed, boot, counts, languages = _replicates(group, [run_a, run_b], keys, n_boot, seed, scale)
        a_rows = _summaries(observed[:, 0], boot[:, :, 0], languages)
        b_rows = _summaries(observed[:, 1], boot[:, :, 1], languages)
        for (name, a, a_draws, worst_a), (_, b, b_draws, worst_b) in zip(a_rows, b_rows):
            diff = a_draws - b_draws
            note = _note(name, counts, languages)
            low, high = _interval(diff, level) if not note else (np.nan, np.nan)
            tail = min(np.sum(diff <= 0), np.sum(diff >= 0))
            n_items = int(counts.sum()) if name in ("mean", "worst") else int(counts[languages.index(name)])
            out.append({**dict(zip(ITEM_GROUP, keys)), "language": name, "n_items": n_items, "run_a": run_a,
                        "run_b": run_b, "score_a": a, "score_b": b, "difference": a - b, "ci_low": low, "ci_high": high,
                        "p_value": min(1.0, 2 * (1 + tail) / (1 + n_boot)) if not note else np.nan,
                        "worst_language": f"{worst_a} / {worst_b}" if name == "worst" else "", "note": note})
    if not out:
        raise XitConfigError(f"runs {run_a!r} and {run_b!r} share no target × direction × layer in the per-item table.")
    return pd.DataFrame(out)
