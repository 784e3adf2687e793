"""The README's answer section is what `python -m xit answer` writes from the committed study table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from analysis_tables import linear_effect, make_results

from xit.analysis import answer, controls, readme
from xit.analysis.inputs import load_analysis
from xit.errors import XitConfigError

REPO = Path(__file__).resolve().parent.parent
STUDY = REPO / "results" / "study" / "results.parquet"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The committed study table's inputs and findings, computed once as `python -m xit answer` computes them."""
    assert STUDY.is_file(), "results/study/results.parquet is missing: run `python -m xit collect params/study.yaml`"
    inputs = load_analysis(STUDY, tmp_path_factory.mktemp("study"))
    return inputs, answer.compute_findings(inputs, worst_items=False)


def test_the_readme_answer_is_the_committed_study_tables(study):
    inputs, found = study
    # The section names the table by the path the README's command gives.
    section = readme.section_text(inputs, found, "results/study/results.parquet")
    written = readme.current_section((REPO / "README.md").read_text(encoding="utf-8"))
    assert written == section, "README.md's answer section is stale: run `python -m xit answer results/study/results.parquet`"
    runs = pd.read_parquet(STUDY, columns=["run_id"])["run_id"].nunique()
    assert f": {runs} of the " in section  # the count of runs it rests on is the table's


def test_the_readmes_words_on_mlm_are_the_study_tables(study):
    # The sentence above the block: MLM lowers retrieval; English tasks beat it for anli and hellaswag and trail it
    # for ccg, squad_v1 and the 4-task pool, on both seeds.
    inputs, found = study
    conditions = readme.condition_table(inputs)
    assert (conditions.loc[conditions["kind"] == "mlm", "minus_untrained"] < 0).all()
    # One row per (task set, steps): the factorial's total arm puts the 4-task pool at 60 steps beside its 240.
    verdict = controls.mlm_verdict(found.mlm).set_index(["task_tasks", "total_steps"])
    named = {("anli", 60): "beat", ("hellaswag", 60): "beat", ("ccg", 60): "trail", ("squad_v1", 60): "trail",
             ("anli+ccg+hellaswag+squad_v1", 240): "trail"}
    # Other task sets at the MLM runs' budgets (the factorial's total arm) get their own rows as they land.
    assert (verdict.loc[list(named), "seeds"] == 2).all()
    assert verdict.loc[list(named), "english_tasks"].to_dict() == named
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "English tasks **beat** continued MLM for ANLI+ and HellaSwag" in text and "**trail** it for CCG, SQuAD and the 4-task pool" in text


def test_condition_table_means_and_differences(tmp_path):
    results = make_results(linear_effect(2.0), k_values=(0, 1, 2), subsets_per_k=2, seeds=(1, 2))
    results.to_parquet(tmp_path / "results.parquet", index=False)
    inputs = load_analysis(tmp_path / "results.parquet", tmp_path / "out")
    table = readme.condition_table(inputs).set_index("tasks")
    # 40 + 2k + the per-language offsets (mean 3 * 3.5 over the 8 Tatoeba languages); no noise
    assert table.loc["(untrained)", "mean"] == pytest.approx(50.5) and table.loc["(untrained)", "seeds"] == 1
    assert table.loc["anli", "mean"] == pytest.approx(52.5) and table.loc["anli", "minus_untrained"] == pytest.approx(2.0)
    assert table.loc["anli+ccg", "minus_untrained"] == pytest.approx(4.0) and table.loc["anli+ccg", "seeds"] == 2
    assert table.loc["anli", "range"] == "52.5–52.5"
    # Interpolation weights are separate conditions: two alphas of one source are two rows, not one mean.
    results = results.assign(kind="task", alpha=pd.array([pd.NA] * len(results), dtype="Float64"))
    source = results[results["run_id"] == results.loc[results["k"] == 1, "run_id"].iloc[0]]
    halves = [source.assign(run_id=f"k1-interp-{a}", kind="interpolation", alpha=a) for a in (0.25, 0.5)]
    pd.concat([results, *halves]).to_parquet(tmp_path / "results.parquet", index=False)
    kinds = readme.condition_table(load_analysis(tmp_path / "results.parquet", tmp_path / "out2"))["kind"]
    assert {"interpolation α=0.25", "interpolation α=0.5"} <= set(kinds) and "interpolation" not in set(kinds)


def test_the_markers_are_required_and_only_the_block_changes():
    text = f"intro\n{readme.ANSWER_START}\nold\n{readme.ANSWER_END}\noutro\n"
    assert readme.replace_section(text, "new") == f"intro\n{readme.ANSWER_START}\nnew\n{readme.ANSWER_END}\noutro\n"
    assert readme.current_section(text) == "old"
    with pytest.raises(XitConfigError, match="has no answer block"):
        readme.replace_section("no markers here", "new")



def test_the_readmes_words_on_drift_are_the_study_tables(study):
    # "the further a task run moved the encoder's weights, and the less its representations still resemble the
    # start (CKA), the lower its score": rank correlations over the trained task runs, each significant at 5%.
    _, found = study
    association = controls.drift_association(found.drift).set_index("metric")
    assert association.loc["param_distance", "spearman_rho"] < 0 and association.loc["cka", "spearman_rho"] > 0
    assert (association.loc[["param_distance", "cka"], "p_value"] < 0.05).all()
    assert "the\nfurther a task run moved the encoder's weights" in (REPO / "README.md").read_text(encoding="utf-8")


def test_the_cost_line_adds_up_each_runs_status(tmp_path):
    results = make_results(linear_effect(2.0), k_values=(0, 1), subsets_per_k=2, seeds=(1,))
    results.to_parquet(tmp_path / "results.parquet", index=False)
    runs = sorted(results["run_id"].unique())
    for run_id, seconds in zip(runs, (3600.0, 1800.0, 900.0)):
        (tmp_path / "runs" / run_id).mkdir(parents=True)
        (tmp_path / "runs" / run_id / "status.json").write_text(f'{{"status": "done", "seconds": {seconds}}}')
    inputs = load_analysis(tmp_path / "results.parquet", tmp_path / "out")
    assert len(runs) == 3
    assert readme.cost_sentence(inputs) == ("Their run time, training through evaluation, adds up to 1.8 hours on 2-core "
                                            "machines (900–3,600 s per run, median 1,800 s; from each run's status.json).")
    (tmp_path / "runs" / runs[0] / "status.json").unlink()  # a run without a status is left out, not guessed
    assert "adds up to 0.8 hours" in readme.cost_sentence(inputs)


def test_the_readmes_words_on_interpolation_are_the_study_tables(study):
    # "All six of their curves ... are best at the untrained end. For the pool and squad_v1 ... more than half of the
    # loss comes in the last quarter of the way, between α = 0.75 and the trained run. Hellaswag barely moves at any
    # α; the one interior α that edges above the untrained end (seed 1, α = 0.25) does so within item noise."
    _, found = study
    summary = controls.interpolation_summary(found.interpolation).set_index("tasks")
    assert (summary["seeds_with_both_ends_complete"] == 2).all() and len(summary) == 3
    assert (summary["best_alpha"] == 0.0).all()
    peaks = found.interpolation_peaks
    assert summary["seeds_interior_beats_both_ends"].sum() == len(peaks) == 1
    peak = peaks.iloc[0]
    assert (peak["tasks"], peak["seed"], peak["alpha"], peak["end_alpha"]) == ("hellaswag", 1, 0.25, 0.0)
    assert bool(peak["within_noise"]) and peak["ci_low"] < 0 < peak["ci_high"]
    for tasks in ("anli+ccg+hellaswag+squad_v1", "squad_v1"):
        row = summary.loc[tasks]
        assert row["α=0.75"] - row["α=1"] > 0.5 * (row["α=0"] - row["α=1"])
    hellaswag = summary.loc["hellaswag", ["α=0", "α=0.25", "α=0.5", "α=0.75", "α=1"]]
    assert hellaswag.max() - hellaswag.min() < 1.0
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())  # line breaks do not change the words
    assert "more than half of the loss comes in the last quarter of the way" in text
    assert "(seed 1, α = 0.25) does so within item noise" in text


def test_the_readmes_run_counts_are_the_study_design():
    # "the factorial (52 runs ...), the nested arm (16 runs: 3 random orders at k = 1 to 12 and the k = 17 run they
    # share, one seed) and the dose arm (30 runs, 20 of them beyond the factorial). The controls are 10 shuffled-label
    # runs, 2 L2-SP runs, 4 continued-MLM runs and 18 weight interpolations."
    design = pd.read_parquet(STUDY.parent / "design-study.parquet")
    runs = design.groupby("design")["run_id"].apply(set)
    counts = {name: len(ids) for name, ids in runs.items()}
    assert counts == {"baseline": 1, "factorial": 52, "nested": 16, "dose": 30, "shuffled_labels": 10, "l2sp": 2,
                      "mlm": 4, "interpolation": 18}
    nested = design[design["design"] == "nested"]
    assert nested["order"].nunique() == 3 and set(nested["seed"]) == {0}
    assert nested.loc[nested["k"] < 17, "k"].max() == 12 and nested.loc[nested["k"] == 17, "run_id"].nunique() == 1
    assert len(runs["dose"] - runs["factorial"]) == 20 and set(design.loc[design["design"] == "factorial", "seed"]) == {0, 1}
    assert design["run_id"].nunique() == len(pd.read_parquet(STUDY, columns=["run_id"])["run_id"].unique()) == 122
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    for words in ("the factorial (52 runs", "the nested arm (16 runs: 3 random orders at k = 1 to 12 and the k = 17 run",
                  "the dose arm (30 runs, 20 of them beyond the factorial)", "The controls are 10 shuffled-label runs, 2 L2-SP "
                  "runs, 4 continued-MLM runs and 18 weight interpolations."):
        assert words in text
