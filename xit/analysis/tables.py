"""Result tables: which single task helps most, the all-task run vs the best single task, LAReQA language bias."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from xit.analysis.results import run_scores
from xit.analysis.stats import GROUP

_PAIR = re.compile(r"^([A-Za-z_]+)->([A-Za-z_]+)$")


def _baseline(scores: pd.DataFrame) -> pd.Series:
    return scores[scores["k"] == 0].groupby(GROUP)["score"].mean()


def single_task_table(results: pd.DataFrame, layer: int | None = None) -> pd.DataFrame:
    """Gain (points over k=0) of every single-task run, tasks × target/direction, best task per column marked by rank."""
    scores = run_scores(results, layer=layer if layer is not None else _layer(results))
    single = scores[scores["k"] == 1]
    if single.empty:
        return pd.DataFrame()
    base = _baseline(scores)
    single = single.groupby(GROUP + ["tasks"], as_index=False)["score"].mean()
    single["gain"] = single["score"] - pd.MultiIndex.from_frame(single[GROUP]).map(base.to_dict()).to_numpy(dtype=float)
    single["column"] = single["target"] + " " + single["direction"] + " (" + single["metric"] + ")"
    table = single.pivot_table(index="tasks", columns="column", values="gain")
    table["mean gain"] = table.mean(axis=1)
    table = table.sort_values("mean gain", ascending=False)
    table.index.name = "task (k=1)"
    return table


def best_single_tasks(results: pd.DataFrame, layer: int | None = None) -> pd.DataFrame:
    """Per target × direction: the single task with the largest gain over k=0, and that gain."""
    table = single_task_table(results, layer)
    if table.empty:
        return pd.DataFrame()
    columns = [c for c in table.columns if c != "mean gain"]

    def pick(column: str, best: bool) -> str:
        values = table[column]
        if values.nunique() == 1 and len(values) > 1:
            return "tie: all equal"
        return values.idxmax() if best else values.idxmin()

    return pd.DataFrame({
        "target (metric)": columns,
        "best single task": [pick(c, True) for c in columns],
        "gain (points)": [table[c].max() for c in columns],
        "worst single task": [pick(c, False) for c in columns],
        "worst gain (points)": [table[c].min() for c in columns],
    })


def all_vs_best_single(results: pd.DataFrame, layer: int | None = None) -> pd.DataFrame:
    """Per target × direction: baseline, best single task, the run with every pool task (largest k), and the difference."""
    scores = run_scores(results, layer=layer if layer is not None else _layer(results))
    k_max = int(scores["k"].max())
    if k_max < 2 or not (scores["k"] == 1).any():
        return pd.DataFrame()
    out = []
    for keys, group in scores.groupby(GROUP, sort=True):
        base = group.loc[group["k"] == 0, "score"].mean()
        single = group[group["k"] == 1].groupby("tasks")["score"].mean()
        full = group[group["k"] == k_max]
        full_score = full["score"].mean()
        out.append(dict(zip(GROUP, keys)) | {
            "baseline (k=0)": base,
            "best single task": single.idxmax(), "best single score": single.max(),
            f"all-task run (k={k_max})": full_score,
            "all-task tasks": " / ".join(sorted(full["tasks"].unique())),
            "all minus best single": full_score - single.max(),
            "all minus baseline": full_score - base,
        })
    return pd.DataFrame(out)


def language_bias(results: pd.DataFrame, layer: int | None = None) -> pd.DataFrame:
    """LAReQA rows 'question->answer language' (non-mAP metrics) as question_language, answer_language, share (%), k."""
    rows = results[(results["target"] == "lareqa") & (results["metric"] != "map@20")]
    if layer is None and not rows.empty:
        layer = _layer(results)
    rows = rows[rows["layer"] == layer] if not rows.empty else rows
    parsed = rows["direction"].str.extract(_PAIR)
    rows = rows.assign(question_language=parsed[0], answer_language=parsed[1])
    rows = rows[rows["answer_language"].notna() & (rows["answer_language"] != "all")]
    rows = rows[(rows["question_language"] == rows["language"]) | (rows["question_language"] == "q")]
    rows = rows.assign(question_language=np.where(rows["question_language"] == "q", rows["language"], rows["question_language"]))
    columns = ["k", "question_language", "answer_language", "metric", "share"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    bias = rows.groupby(["k", "question_language", "answer_language", "metric"], as_index=False)["value"].mean()
    return bias.rename(columns={"value": "share"})[columns]


def same_language_top1(results: pd.DataFrame, layer: int | None = None) -> pd.DataFrame:
    """LAReQA 'same_language_top1' (%) per question language × k (mean over runs); empty when not evaluated."""
    rows = results[(results["target"] == "lareqa") & (results["metric"] == "same_language_top1")]
    if rows.empty:
        return pd.DataFrame()
    rows = rows[rows["layer"] == (layer if layer is not None else _layer(results))]
    return rows.pivot_table(index="language", columns="k", values="value", aggfunc="mean")


def _layer(results: pd.DataFrame) -> int:
    from xit.analysis.results import primary_layer

    return primary_layer(results)


def show(table: pd.DataFrame, empty_note: str, digits: int = 2):
    """A table rounded for display, or a Note saying why it is empty."""
    from xit.analysis.figures import Note

    if table is None or table.empty:
        return Note(empty_note)
    return table.round(digits)
