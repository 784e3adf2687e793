"""Tables and figures of retrieval result rows (used by notebooks/02_retrieval.ipynb)."""

from __future__ import annotations

import pandas as pd

from xit.retrieval.targets import TARGETS

#: The headline metric of each target (the value shown in per-target tables and bars).
HEADLINE = TARGETS.headline_metrics()


def target_tables(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One wide table per target: language x (layer, direction, metric), bias shares left out."""
    out = {}
    for target, group in rows[rows["metric"] != "top_relevant_share"].groupby("target", sort=False):
        out[str(target)] = group.pivot_table(index="language", columns=["layer", "direction", "metric"], values="value").round(2)
    return out


def per_language_bars(rows: pd.DataFrame, layer: int | None = None):
    """Bar charts of each target's headline metric per language (one panel per target), at one layer."""
    import seaborn as sns

    layer = int(rows["layer"].max()) if layer is None else layer
    keep = rows[(rows["layer"] == layer) & (rows["language"] != "all")]
    keep = keep[[HEADLINE.get(t) == m for t, m in zip(keep["target"], keep["metric"])]]
    keep = keep[keep["direction"].isin(["xx->en", "en->xx", "xx-en", "q->all", "mention->entity"])]
    grid = sns.catplot(
        data=keep, x="language", y="value", hue="direction", col="target", kind="bar",
        col_wrap=min(2, keep["target"].nunique() or 1), sharex=False, height=3.2, aspect=1.6,
    )
    grid.set_axis_labels("language", "score (0-100)")
    grid.figure.suptitle(f"Per-language scores, layer {layer}", y=1.02)
    return grid


def language_bias_matrix(rows: pd.DataFrame, layer: int | None = None) -> pd.DataFrame:
    """LAReQA: % of questions (rows: question language) whose top-ranked relevant answer is in each language."""
    layer = int(rows["layer"].max()) if layer is None else layer
    bias = rows[(rows["target"] == "lareqa") & (rows["metric"] == "top_relevant_share") & (rows["layer"] == layer)]
    matrix = bias.assign(answer=bias["direction"].str.removeprefix("q->")).pivot_table(
        index="language", columns="answer", values="value", fill_value=0.0
    )
    matrix.index.name, matrix.columns.name = "question language", "answer language"
    return matrix


def draw_language_bias(ax, matrix: pd.DataFrame, colorbar: bool = True, annotate: bool = True) -> None:
    """One LAReQA language-bias heatmap on ax (question language × language of the top-ranked relevant answer, %)."""
    import seaborn as sns

    sns.heatmap(matrix, ax=ax, cmap="rocket_r", vmin=0, vmax=100, annot=annotate and matrix.size <= 150, fmt=".0f",
                annot_kws={"fontsize": 7}, cbar=colorbar, cbar_kws={"label": "share of questions (%)"})
    ax.set_xlabel("language of the top-ranked relevant answer")
    ax.tick_params(axis="y", labelrotation=0)


def language_bias_heatmap(rows: pd.DataFrame, layer: int | None = None):
    """Heatmap of the LAReQA language-bias matrix (a language-agnostic model spreads each row evenly)."""
    import matplotlib.pyplot as plt

    matrix = language_bias_matrix(rows, layer)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(matrix.columns), 0.8 + 0.5 * len(matrix)))
    draw_language_bias(ax, matrix)
    ax.set_title("LAReQA: language of the top-ranked relevant answer")
    return fig
