"""Seaborn figures for the analysis notebooks and the report, saved as PNG and SVG.

Every function builds its own ``matplotlib.figure.Figure`` (no pyplot state), saves it under
``out_dir`` when given, and returns a :class:`FigureOutput` that notebooks display inline
(an embedded PNG), or a :class:`Note` saying why the table cannot support that figure.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from xit.analysis.languages import FAMILY_ORDER, language_info, language_label
from xit.analysis.results import METRIC_LABEL, TARGET_LABEL
from xit.analysis.stats import arm_of
from xit.retrieval.plots import draw_language_bias

K_LABEL = "number of English intermediate tasks, k"
STYLE = {"style": "whitegrid", "context": "notebook"}


@dataclass
class Note:
    """Why a figure or table is not shown (the results table lacks what it needs)."""

    text: str

    def _repr_markdown_(self) -> str:
        return f"> **Not shown:** {self.text}"

    def _repr_html_(self) -> str:
        return f'<div class="xit-note" style="border-left:4px solid #b0b0b0;padding:4px 10px;color:#444"><b>Not shown:</b> {html.escape(self.text)}</div>'


@dataclass
class FigureOutput:
    """A saved figure: displays inline as an embedded PNG; ``paths`` maps 'png'/'svg' to files."""

    name: str
    title: str
    figure: Figure
    paths: dict[str, Path] = field(default_factory=dict)

    def png_bytes(self) -> bytes:
        """The figure as PNG bytes (150 dpi)."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
        return buffer.getvalue()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png_bytes()).decode("ascii")
        return (f'<figure class="xit-figure" style="margin:0"><img alt="{html.escape(self.title)}" '
                f'style="max-width:100%" src="data:image/png;base64,{data}"/></figure>')


def _new_figure(panels: int, width: float, height: float, max_cols: int | None = None) -> tuple[Figure, list]:
    """A figure of `panels` axes (width × height inches each), wrapped into rows of at most max_cols."""
    ncols = min(panels, max_cols) if max_cols else panels
    nrows = -(-panels // ncols)
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, axes[:panels]


def _finish(fig: Figure, name: str, title: str, out_dir: str | Path | None) -> FigureOutput:
    fig.suptitle(title, fontsize=13, fontweight="bold")
    paths: dict[str, Path] = {}
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for ext in ("png", "svg"):
            paths[ext] = folder / f"{name}.{ext}"
            fig.savefig(paths[ext], dpi=150, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else {"Software": None})
    return FigureOutput(name=name, title=title, figure=fig, paths=paths)


def _line_with_ci(ax, line: pd.DataFrame, y: str, low: str, high: str, color, linestyle: str = "-",
                  label: str | None = None, shift: float = 0.0, markersize: float = 5) -> None:
    """A line with 95% interval error bars (drawn where the interval exists: k=0 or single runs have none)."""
    x = line["k"].to_numpy(dtype=float) + shift
    ax.plot(x, line[y], marker="o", markersize=markersize, color=color, linestyle=linestyle, label=label)
    has_ci = line[low].notna().to_numpy()
    if has_ci.any():
        centre = line[y].to_numpy()[has_ci]
        err = np.vstack([centre - line[low].to_numpy()[has_ci], line[high].to_numpy()[has_ci] - centre])
        ax.errorbar(x[has_ci], centre, yerr=err, fmt="none", ecolor=color, elinewidth=1.2, capsize=3, alpha=0.8)


def _min_span(ax, span: float = 2.0) -> None:
    """Show at least `span` points on the y axis, so sub-point differences do not look like large effects."""
    low, high = ax.get_ylim()
    if high - low < span:
        centre = (low + high) / 2
        ax.set_ylim(centre - span / 2, centre + span / 2)


def _arm_suffix(table: pd.DataFrame, separator: str) -> str:
    """separator + the amount arm the table was read along, for a title; "" without one."""
    return f"{separator}{arm_of(table)}" if arm_of(table) else ""


def _target_title(target: str) -> str:
    return TARGET_LABEL.get(target, target)


def _metric_axis(metric: str, prefix: str = "") -> str:
    return prefix + METRIC_LABEL.get(metric, f"{metric} (%)")


def _directions_palette(directions: list[str]) -> dict[str, tuple]:
    colours = sns.color_palette("colorblind", n_colors=max(3, len(directions)))
    return dict(zip(directions, colours))


def scaling_curves(table: pd.DataFrame, out_dir: str | Path | None = None, name: str = "scaling_curves") -> FigureOutput | Note:
    """Score vs k per target (one panel each): colour per direction, line style per training-amount arm, 95% bootstrap CIs."""
    if table.empty:
        return Note("the results table has no headline rows to plot.")
    table = table if "arm" in table else table.assign(arm="")
    targets = sorted(table["target"].unique())
    palette = _directions_palette(sorted(table["direction"].unique()))
    arms = table[table["k"] > 0].groupby("arm")["k"].nunique().sort_values(ascending=False).index.tolist() or [""]
    styles = dict(zip(arms, ["-", "--", ":", "-."] * len(arms)))
    fig, axes = _new_figure(len(targets), 4.6, 3.8, max_cols=3)
    for ax, target in zip(axes, targets):
        sub = table[(table["target"] == target) & table["arm"].isin(arms)]
        groups = list(sub.groupby(["direction", "arm"], sort=True))
        for i, ((direction, arm), line) in enumerate(groups):
            shift = 0.06 * (i - (len(groups) - 1) / 2)  # lines side by side, so their error bars do not overlap
            label = f"{direction}, {arm}" if arm else direction
            _line_with_ci(ax, line.sort_values("k"), "mean", "ci_low", "ci_high", palette[direction], styles[arm],
                          label=label, shift=shift)
        _min_span(ax)
        ax.set_title(_target_title(target))
        ax.set_xlabel(K_LABEL)
        ax.set_ylabel(_metric_axis(sub["metric"].iloc[0]))
        ax.set_xticks(sorted(sub["k"].unique()))
        ax.legend(fontsize="x-small")
    layer = int(table["layer"].iloc[0])
    amount = "each line holds the training amount fixed; " if arms != [""] else ""
    return _finish(fig, name, f"Zero-shot retrieval vs number of intermediate tasks (layer {layer}; {amount}mean over subsets × seeds; "
                              "bars: 95% bootstrap CI)", out_dir)


def robustness_curves(spread: pd.DataFrame, out_dir: str | Path | None = None, name: str = "language_robustness") -> FigureOutput | Note:
    """Mean, bottom-quartile and worst-language score vs k per target (robustness across languages)."""
    if spread.empty:
        return Note("the results table has no headline rows to plot.")
    targets = sorted(spread["target"].unique())
    stats_shown = {"mean": "mean over languages", "bottom_quartile": "bottom-quartile languages", "worst": "worst language"}
    colours = dict(zip(stats_shown, sns.color_palette("colorblind", 3)))
    styles = ["-", "--", ":", "-."]
    fig, axes = _new_figure(len(targets), 4.6, 3.8, max_cols=3)
    for ax, target in zip(axes, targets):
        sub = spread[spread["target"] == target]
        for i, (direction, line) in enumerate(sub.groupby("direction", sort=True)):
            line = line.sort_values("k")
            single = int(line["n_languages"].max()) == 1  # one language: its worst and quartile are the mean
            for j, column in enumerate(stats_shown):
                if single and column != "mean":
                    continue
                prefix = "score" if column == "mean" else column
                _line_with_ci(ax, line, column, f"{prefix}_ci_low", f"{prefix}_ci_high", colours[column],
                              linestyle=styles[i % len(styles)], shift=0.04 * (j - 1) + 0.02 * i, markersize=4)
        _min_span(ax)
        ax.set_title(_target_title(target))
        ax.set_xlabel(K_LABEL)
        ax.set_ylabel(_metric_axis(sub["metric"].iloc[0]))
        ax.set_xticks(sorted(sub["k"].unique()))
        # one legend entry per statistic (colour) and per direction (line style), not per combination
        shown = ["mean"] if int(sub["n_languages"].max()) == 1 else list(stats_shown)
        handles = [Line2D([], [], color=colours[c], marker="o", markersize=4, label=stats_shown[c]) for c in shown]
        handles += [Line2D([], [], color="grey", linestyle=styles[i % len(styles)], label=d)
                    for i, d in enumerate(sorted(sub["direction"].unique()))]
        ax.legend(handles=handles, fontsize="x-small")
    return _finish(fig, name, f"Robustness across languages: mean, bottom quartile and worst language vs k{_arm_suffix(spread, '; ')} "
                              "(bars: 95% CI over runs)", out_dir)


def subset_spread_plot(scores: pd.DataFrame, out_dir: str | Path | None = None, name: str = "subset_spread") -> FigureOutput | Note:
    """Every run's score vs k per target: the spread across task subsets and seeds at the same k."""
    if scores.empty:
        return Note("the results table has no headline rows to plot.")
    targets = sorted(scores["target"].unique())
    directions = sorted(scores["direction"].unique())
    fig, axes = _new_figure(len(targets), 4.6, 3.8, max_cols=3)
    for ax, target in zip(axes, targets):
        sub = scores[scores["target"] == target].copy()
        order = sorted(sub["k"].unique())
        sns.boxplot(data=sub, x="k", y="score", hue="direction", order=order, hue_order=[d for d in directions if d in set(sub["direction"])],
                    ax=ax, fill=False, showfliers=False, palette="colorblind", legend=False)
        sns.stripplot(data=sub, x="k", y="score", hue="direction", order=order, hue_order=[d for d in directions if d in set(sub["direction"])],
                      ax=ax, dodge=True, palette="colorblind", size=5, alpha=0.8)
        _min_span(ax)
        ax.set_title(_target_title(target))
        ax.set_xlabel(K_LABEL)
        ax.set_ylabel(_metric_axis(sub["metric"].iloc[0], "run score: "))
        ax.legend(title="direction", fontsize="small")
    return _finish(fig, name, "Spread across task subsets and seeds: one point per run (mean over languages)", out_dir)


def gain_heatmap(gains: pd.DataFrame, target: str = "tatoeba", out_dir: str | Path | None = None, name: str | None = None) -> FigureOutput | Note:
    """Per-language gain over k=0 (points) by k, languages sorted by family, branch and script."""
    sub = gains[(gains["target"] == target) & (gains["k"] > 0)]
    if sub.empty:
        present = ", ".join(sorted(gains["target"].unique())) or "none"
        return Note(f"no per-language rows with k > 0 for target {target!r} (targets with per-language rows: {present}).")
    directions = sorted(sub["direction"].unique())
    languages = language_info(sorted(sub["language"].unique()))
    order = languages["language"].tolist()
    ks = sorted(sub["k"].unique())
    limit = float(np.nanmax(np.abs(sub["gain"].to_numpy()))) or 1.0
    height = max(3.6, 2.0 + 0.3 * len(order))
    # room for the language labels (first panel) and the colour bar, then ~0.7 inch per k column
    width = 3.4 + 1.2 + len(directions) * (0.6 + 0.7 * len(ks))
    fig, axes = _new_figure(len(directions), width / len(directions), height)
    for i, (ax, direction) in enumerate(zip(axes, directions)):
        grid = sub[sub["direction"] == direction].pivot_table(index="language", columns="k", values="gain").reindex(index=order, columns=ks)
        sns.heatmap(grid, ax=ax, cmap="vlag", center=0, vmin=-limit, vmax=limit, annot=len(order) * len(ks) <= 600,
                    fmt=".1f", annot_kws={"fontsize": 7}, linewidths=0.3, linecolor="white",
                    cbar=i == len(directions) - 1, cbar_kws={"label": "gain over k=0 (points)"})
        ax.set_title(direction)
        ax.set_xlabel("")
        ax.set_ylabel("language (family order)" if i == 0 else "")
        ax.set_yticks(np.arange(len(order)) + 0.5)
        ax.set_yticklabels([language_label(code) for code in order] if i == 0 else [], fontsize=8, rotation=0)
        boundaries = np.flatnonzero(languages["family"].to_numpy()[1:] != languages["family"].to_numpy()[:-1]) + 1
        for y in boundaries:
            ax.axhline(y, color="black", linewidth=1.2)
    metric = sub["metric"].iloc[0]
    families = [f for f in FAMILY_ORDER if f in set(languages["family"])]
    title = (f"{_target_title(target)}: per-language gain in {METRIC_LABEL.get(metric, metric).replace(' (%)', '')} over k=0"
             f"{_arm_suffix(sub, ', ')}\n"
             "(sorted by family, branch, script; lines separate families)")
    fig.supxlabel(f"{K_LABEL}\nfamilies top to bottom: " + ", ".join(families), fontsize=9)
    return _finish(fig, name or f"gain_heatmap_{target}", title, out_dir)


def layer_sweep(layers: pd.DataFrame, target: str = "tatoeba", out_dir: str | Path | None = None, name: str | None = None) -> FigureOutput | Note:
    """Score vs encoder layer, one line per k (best layer starred), one panel per direction."""
    sub = layers[layers["target"] == target]
    if sub.empty:
        return Note(f"no rows for target {target!r}.")
    if sub["layer"].nunique() < 2:
        return Note(f"only layer {int(sub['layer'].iloc[0])} was evaluated for {target}; list several layers in the grid's eval.layers to see the layer sweep.")
    directions = sorted(sub["direction"].unique())
    ks = sorted(sub["k"].unique())
    palette = dict(zip(ks, sns.color_palette("viridis", n_colors=len(ks))))
    fig, axes = _new_figure(len(directions), 4.8, 3.8)
    for ax, direction in zip(axes, directions):
        for k in ks:
            line = sub[(sub["direction"] == direction) & (sub["k"] == k)].sort_values("layer")
            if line.empty:
                continue
            ax.plot(line["layer"], line["mean"], marker="o", markersize=4, color=palette[k], label=f"k={k}")
            best = line.loc[line["mean"].idxmax()]
            ax.plot([best["layer"]], [best["mean"]], marker="*", markersize=14, color=palette[k], markeredgecolor="black")
        _min_span(ax)
        ax.set_title(direction)
        ax.set_xlabel("encoder layer (hidden_states index; 0 = embeddings)")
        ax.set_ylabel(_metric_axis(sub["metric"].iloc[0]))
        ax.legend(title="tasks", fontsize="small")
    return _finish(fig, name or f"layer_sweep_{target}", f"{_target_title(target)}: layer sweep per k{_arm_suffix(sub, ', ')} (★ = best layer)",
                   out_dir)


def language_bias_heatmap(bias: pd.DataFrame, out_dir: str | Path | None = None, name: str = "lareqa_language_bias") -> FigureOutput | Note:
    """LAReQA: share (%) of questions whose top relevant answer is in each language, question × answer language."""
    if bias.empty:
        return Note("the results table has no LAReQA language-bias rows (evaluate the lareqa target to get them).")
    ks = sorted(bias["k"].unique())
    shown = [ks[0]] + ([ks[-1]] if len(ks) > 1 else [])
    languages = language_info(sorted(set(bias["question_language"]) | set(bias["answer_language"])))["language"].tolist()
    fig, axes = _new_figure(len(shown), max(5.2, 3.0 + 0.45 * len(languages)), max(4.6, 2.4 + 0.4 * len(languages)))
    for i, (ax, k) in enumerate(zip(axes, shown)):
        grid = bias[bias["k"] == k].pivot_table(index="question_language", columns="answer_language", values="share")
        grid = grid.reindex(index=[l for l in languages if l in grid.index], columns=[l for l in languages if l in grid.columns])
        draw_language_bias(ax, grid, colorbar=i == len(shown) - 1)
        ax.set_title(f"k={k}" + (" (untrained)" if k == 0 else ""))
        ax.set_ylabel("question language" if i == 0 else "")
    return _finish(fig, name, "LAReQA language bias: language of the top-ranked relevant answer\n(a language-agnostic model spreads evenly)", out_dir)


def loss_curves(train_log: pd.DataFrame, window: int = 5, ax: Any = None) -> Any:
    """Per-task training loss against the step: raw points thin, a rolling mean over the task's own steps thick."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    df = train_log.copy()
    df["rolling loss"] = df.groupby("task")["loss"].transform(lambda s: s.rolling(window, min_periods=1).mean())
    sns.lineplot(data=df, x="step", y="loss", hue="task", alpha=0.3, linewidth=0.8, legend=False, ax=ax)
    sns.lineplot(data=df, x="step", y="rolling loss", hue="task", linewidth=2.0, ax=ax)
    ax.set(xlabel="optimizer step", ylabel="training loss", title="training loss per task")
    return ax


def drift_scatter(scores: pd.DataFrame, drift: pd.DataFrame, metric: str = "cka", layer: int | None = None,
                  score_label: str = "retrieval score", out_dir: str | Path | None = None,
                  name: str = "drift_scatter") -> FigureOutput | Note:
    """One point per run: its retrieval score (``scores``: run_id, k, kind, value) against its drift
    (``drift.parquet`` rows with run_id: ``metric`` at ``layer``, default the last; languages averaged), coloured by k, marked by kind."""
    need = {"run_id", "k", "kind", "value"}
    if not need <= set(scores.columns):
        return Note(f"the scores table lacks {sorted(need - set(scores.columns))}; pass one row per run with run_id, k, kind, value.")
    rows = drift[drift["metric"] == metric]
    if "language" in rows.columns:
        rows = rows[rows["language"] == "all"]
    if rows.empty:
        return Note(f"no drift rows for metric {metric!r} (collect drift.parquet: run notebook 02 with base_model).")
    layer = int(rows["layer"].max()) if layer is None else int(layer)
    per_run = rows[rows["layer"] == layer].groupby("run_id", as_index=False)["value"].mean().rename(columns={"value": "drift"})
    score = scores.groupby(["run_id", "k", "kind"], as_index=False)["value"].mean()
    points = score.merge(per_run, on="run_id", how="inner")
    if points.empty:
        return Note(f"no run has both a score and {metric!r} drift at layer {layer}; check that run_id matches in both tables.")
    ks, kinds = sorted(points["k"].unique()), sorted(points["kind"].unique())
    palette = dict(zip(ks, sns.color_palette("viridis", n_colors=len(ks))))
    markers = dict(zip(kinds, ["o", "s", "^", "D", "v", "P", "X", "*"] * (len(kinds) // 8 + 1)))
    fig, (ax,) = _new_figure(1, 6.0, 4.4)
    for kind in kinds:
        part = points[points["kind"] == kind]
        ax.scatter(part["drift"], part["value"], c=[palette[k] for k in part["k"]], marker=markers[kind],
                   s=46, edgecolors="black", linewidths=0.5)
    handles = [Line2D([], [], linestyle="", marker="o", color=palette[k], label=f"k={k}") for k in ks]
    handles += [Line2D([], [], linestyle="", marker=markers[kind], color="grey", label=str(kind)) for kind in kinds]
    ax.legend(handles=handles, fontsize="small", loc="best")
    axis = {"cka": "linear CKA with the start (1 = unchanged)", "param_distance": "relative weight distance ‖θ−θ₀‖/‖θ₀‖",
            "alignment_gap": "alignment gap (pair − non-pair cosine)"}.get(metric, metric)
    ax.set_xlabel(f"{axis}, layer {layer}")
    ax.set_ylabel(score_label)
    return _finish(fig, name, f"Retrieval against drift from the start ({metric}, layer {layer})", out_dir)
