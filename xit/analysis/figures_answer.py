"""Figures of the report's answer: the primary endpoint's effect sizes in order, and score against the interpolation
weight alpha (controls). Built like xit.analysis.figures: own Figure, PNG + SVG, a Note when nothing can be drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from xit.analysis.figures import FigureOutput, Note, _finish, _new_figure


def effect_sizes_plot(effects: pd.DataFrame, endpoint_label: str, out_dir: str | Path | None = None,
                      name: str = "answer_effect_sizes") -> FigureOutput | Note:
    """Horizontal interval plot of xit.analysis.answer.effect_sizes: one row per effect, top to bottom in the report's
    order; filled markers with 95% bars where an interval exists, open markers where too few units gave none."""
    shown = effects.dropna(subset=["estimate"]).reset_index(drop=True)
    if shown.empty:
        return Note("no effect on the primary endpoint could be estimated (see the notes in the tables below).")
    sections = list(dict.fromkeys(shown["section"]))
    colours = dict(zip(sections, sns.color_palette("colorblind", n_colors=max(3, len(sections)))))
    fig, (ax,) = _new_figure(1, 9.0, max(2.6, 0.42 * len(shown) + 1.2))
    y = np.arange(len(shown))[::-1]
    for yi, row in zip(y, shown.itertuples()):
        colour = colours[row.section]
        has_ci = pd.notna(row.ci_low) and pd.notna(row.ci_high)
        if has_ci:
            ax.plot([row.ci_low, row.ci_high], [yi, yi], color=colour, linewidth=2.2)
        ax.plot([row.estimate], [yi], marker="o", markersize=7, color=colour,
                markerfacecolor=colour if has_ci else "white", markeredgewidth=1.6)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"({row.section.split()[0]}) {row.effect}" for row in shown.itertuples()], fontsize=9)
    low = np.nanmin(np.r_[shown["estimate"], shown["ci_low"].dropna(), -0.5])
    high = np.nanmax(np.r_[shown["estimate"], shown["ci_high"].dropna(), 0.5])
    pad = 0.08 * (high - low)
    ax.set_xlim(low - pad, high + pad)
    ax.set_xlabel(f"effect on {endpoint_label} (points; open marker: too few units for an interval)")
    return _finish(fig, name, f"The answer: effect sizes on the primary endpoint, {endpoint_label}", out_dir)


def alpha_curve(curve: pd.DataFrame, endpoint_label: str, out_dir: str | Path | None = None,
                name: str = "interpolation_alpha") -> FigureOutput | Note:
    """Score against alpha for each interpolated source (xit.analysis.controls.interpolation_curve)."""
    if curve.empty:
        return Note("no interpolation runs in the results table; add {kind: interpolation, alphas: [...]} to the grid's "
                    "controls: block (docs/grid.md).")
    fig, (ax,) = _new_figure(1, 6.0, 4.0)
    palette = dict(zip(sorted(curve["source"].unique()), sns.color_palette("colorblind", n_colors=max(3, curve["source"].nunique()))))
    for source, line in curve.groupby("source", sort=True):
        line = line.sort_values("alpha")
        ax.plot(line["alpha"], line["score"], marker="o", color=palette[source], label=source)
    ax.set_xlabel("interpolation weight α (0 = untrained encoder, 1 = the trained task run)")
    ax.set_ylabel(f"{endpoint_label}")
    ax.set_xlim(-0.05, 1.05)
    low, high = ax.get_ylim()
    if high - low < 2.0:
        ax.set_ylim((low + high) / 2 - 1.0, (low + high) / 2 + 1.0)
    ax.legend(title="interpolated run", fontsize="small")
    return _finish(fig, name, "Weight interpolation θ(α) = (1 − α)·θ₀ + α·θ: score against α", out_dir)


def mlm_bars(comparison: pd.DataFrame, out_dir: str | Path | None = None, name: str = "mlm_comparison") -> FigureOutput | Note:
    """Task run minus continued-MLM run at equal steps (xit.analysis.controls.mlm_comparison): one panel per target and
    direction, one horizontal bar per budget-matched task set (the mean over seeds), one dot per seed."""
    if comparison.empty:
        return Note("no continued-MLM runs in the results table; add {kind: mlm, subsets: [...]} to the grid's controls: "
                    "block (docs/grid.md).")
    shown = comparison.assign(endpoint=comparison["target"] + " " + comparison["direction"],
                              english=comparison["task_tasks"] + " (" + comparison["total_steps"].astype(str) + " steps)")
    order = shown.sort_values(["total_steps", "task_tasks"])["english"].drop_duplicates().tolist()
    endpoints = sorted(shown["endpoint"].unique())
    # task sets down the side, so twenty of them stay readable; panels side by side share that axis
    fig, axes = _new_figure(len(endpoints), 3.3, max(2.6, 0.27 * len(order) + 1.4), max_cols=4)
    colour = sns.color_palette("colorblind")[0]
    for i, (ax, endpoint) in enumerate(zip(axes, endpoints)):
        sub = shown[shown["endpoint"] == endpoint]
        sns.barplot(sub, y="english", x="task_minus_mlm", order=order, errorbar=None, color=colour, alpha=0.45, ax=ax)
        sns.stripplot(sub, y="english", x="task_minus_mlm", order=order, color="black", size=3.5, jitter=0.15, ax=ax)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_title(endpoint)
        ax.set_xlabel("task run − MLM (points)")
        ax.set_ylabel("task run at the MLM run's steps" if i % 4 == 0 else "")
        if i % 4:
            ax.tick_params(axis="y", labelleft=False)
    return _finish(fig, name, "English intermediate tasks against continued multilingual MLM at equal steps "
                              "(bar: mean over seeds; dot: one seed)", out_dir)
