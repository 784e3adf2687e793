"""Figures: saved as PNG and SVG, labelled, languages in family order, and a Note where the table cannot support them."""

from __future__ import annotations

import pytest
from analysis_tables import linear_effect, make_results

from xit.analysis import figures, stats, tables
from xit.analysis.results import run_scores, validate_results


@pytest.fixture(scope="module")
def results():
    return validate_results(make_results(linear_effect(1.0, noise=0.5), k_values=(0, 1, 3), subsets_per_k=2, seeds=(1,)))


def test_scaling_curves_are_saved_and_labelled(results, tmp_path):
    out = figures.scaling_curves(stats.scaling_table(results), out_dir=tmp_path)
    assert isinstance(out, figures.FigureOutput)
    assert out.paths["png"].stat().st_size > 20_000 and out.paths["svg"].read_text().startswith("<?xml")
    axes = out.figure.axes
    assert [ax.get_title() for ax in axes] == ["BUCC", "LAReQA (XQuAD-R)", "Tatoeba"]
    assert [ax.get_ylabel() for ax in axes] == ["F1 (%)", "mAP@20 (%)", "accuracy (%)"]
    assert all(ax.get_xlabel() == figures.K_LABEL for ax in axes)
    assert [t.get_text() for t in axes[2].get_legend().get_texts()] == ["en->xx", "xx->en"]
    assert 'src="data:image/png;base64,' in out._repr_html_()


def test_gain_heatmap_sorts_languages_by_family(results, tmp_path):
    out = figures.gain_heatmap(stats.language_gains(results), target="tatoeba", out_dir=tmp_path)
    labels = [t.get_text().split(" · ")[0] for t in out.figure.axes[0].get_yticklabels()]
    assert labels == ["deu", "hin", "fra", "rus", "ara", "cmn", "tha", "swh"]
    assert (tmp_path / "gain_heatmap_tatoeba.svg").is_file()


def test_figures_the_table_cannot_support_are_notes(results):
    sweep = figures.layer_sweep(stats.layer_table(results), target="tatoeba")
    assert isinstance(sweep, figures.Note) and "only layer 12 was evaluated" in sweep.text
    no_bias = validate_results(make_results(linear_effect(1.0), k_values=(0, 1), with_bias=False))
    bias = figures.language_bias_heatmap(tables.language_bias(no_bias))
    assert isinstance(bias, figures.Note) and "no LAReQA language-bias rows" in bias._repr_markdown_()
    assert isinstance(figures.gain_heatmap(stats.language_gains(results), target="mewslix"), figures.Note)


def test_robustness_and_spread_figures(results, tmp_path):
    scores = run_scores(results)
    spread = figures.robustness_curves(stats.language_spread(scores), out_dir=tmp_path)
    legend = [t.get_text() for t in spread.figure.axes[2].get_legend().get_texts()]
    assert legend == ["mean over languages", "bottom-quartile languages", "worst language", "en->xx", "xx->en"]
    # BUCC has one language: only its mean is drawn
    assert [t.get_text() for t in spread.figure.axes[0].get_legend().get_texts()] == ["mean over languages", "xx-en"]
    strip = figures.subset_spread_plot(scores, out_dir=tmp_path)
    assert strip.paths["png"].is_file() and strip.figure.axes[0].get_ylabel() == "run score: F1 (%)"


def test_scaling_curves_draw_one_line_style_per_training_amount(tmp_path):
    import pandas as pd

    rows = [{"target": "tatoeba", "direction": "xx->en", "metric": "accuracy", "arm": arm, "layer": 12, "k": k,
             "mean": 50.0 - k, "ci_low": float("nan"), "ci_high": float("nan")}
            for arm, ks in [("60 steps per task", (0, 1, 2, 4, 8)), ("60 steps in all", (0, 1, 2))] for k in ks]
    out = figures.scaling_curves(pd.DataFrame(rows), out_dir=tmp_path)
    ax = out.figure.axes[0]
    # the arm reaching more k values is drawn solid, the other dashed; one colour per direction
    styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert styles == {"xx->en, 60 steps per task": "-", "xx->en, 60 steps in all": "--"}
    assert "each line holds the training amount fixed" in out.title


def test_mlm_bars_put_task_sets_down_the_side_with_the_mean_over_seeds(tmp_path):
    import pandas as pd

    from xit.analysis import figures_answer

    rows = [{"target": target, "direction": direction, "task_tasks": tasks, "total_steps": steps, "seed": seed,
             "task_minus_mlm": base + seed}
            for target, direction in [("tatoeba", "xx->en"), ("bucc", "xx-en")]
            for tasks, steps, base in [("anli", 60, 4.0), ("anli+ccg", 240, -10.0), ("ccg", 60, -2.0)] for seed in (0, 1)]
    out = figures_answer.mlm_bars(pd.DataFrame(rows), out_dir=tmp_path)
    left, right = out.figure.axes
    assert [left.get_title(), right.get_title()] == ["bucc xx-en", "tatoeba xx->en"]
    # fewer steps first, then by name; the bar is the seeds' mean (base + 0.5)
    assert [t.get_text() for t in left.get_yticklabels()] == ["anli (60 steps)", "ccg (60 steps)", "anli+ccg (240 steps)"]
    assert [round(p.get_width(), 6) for p in left.patches] == [4.5, -1.5, -9.5]
    assert left.get_ylabel() == "task run at the MLM run's steps" and right.get_ylabel() == ""
    assert figures_answer.mlm_bars(pd.DataFrame()).text.startswith("no continued-MLM runs")
