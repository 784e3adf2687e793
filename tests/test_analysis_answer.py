"""The primary endpoint, run kinds in the analysis inputs, controls, and the answer the report opens with."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from analysis_tables import linear_effect, make_results

from xit.analysis import answer, controls, effects, findings, stats
from xit.analysis.inputs import load_analysis
from xit.analysis.results import task_rows
from xit.errors import XitConfigError

ENDPOINT = {"target": "tatoeba", "direction": "xx->en", "layer": -1, "metric": "accuracy"}


def _with_controls(results: pd.DataFrame) -> pd.DataFrame:
    """The constructed table with run columns, plus a shuffled-label copy and two interpolations of one k=1 run."""
    results = results.assign(kind=np.where(results["k"] == 0, "none", "task"), budget_policy="total",
                             total_steps=pd.array(np.where(results["k"] == 0, pd.NA, 100), dtype="Int64"),
                             alpha=pd.array([pd.NA] * len(results), dtype="Float64"))
    results["steps_per_task"] = pd.array(100 / results["k"].replace(0, np.nan), dtype="Float64")
    source = results[results["run_id"] == results.loc[results["k"] == 1, "run_id"].iloc[0]]
    shuffled = source.assign(run_id="k1-shuffled", kind="shuffled_labels", value=source["value"] - 5.0)
    halves = [source.assign(run_id=f"k1-interp-{a}", kind="interpolation", alpha=a, value=source["value"] + 10 * a)
              for a in (0.25, 0.5)]
    return pd.concat([results, shuffled, *halves], ignore_index=True)


def _folder(tmp_path, results: pd.DataFrame, grid: dict | None) -> str:
    results.to_parquet(tmp_path / "results.parquet", index=False)
    if grid is not None:
        (tmp_path / "grid.json").write_text(json.dumps(grid))
    return str(tmp_path / "results.parquet")


@pytest.fixture
def table():
    return _with_controls(make_results(linear_effect(1.5, noise=1.0), k_values=(0, 1, 2, 3), subsets_per_k=3, layers=(6, 12)))


def test_primary_endpoint_from_grid_json_resolves_negative_layers(tmp_path, table):
    inputs = load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    assert inputs.primary.key() == {"target": "tatoeba", "direction": "xx->en", "layer": 12, "metric": "accuracy"}
    assert inputs.primary.source == "grid.json" and inputs.layer == 12
    six = load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT | {"layer": 6}}), tmp_path / "out")
    assert six.primary.layer == 6 and set(six.scores["layer"]) == {6}


def test_without_grid_json_the_fallback_is_said(tmp_path, table):
    inputs = load_analysis(_folder(tmp_path, table, None), tmp_path / "out")
    assert inputs.primary.key() == {"target": "tatoeba", "direction": "xx->en", "layer": 12, "metric": "accuracy"}
    assert inputs.primary.source.startswith("not named by the grid")
    assert "not named by the grid" in answer.answer_summary(answer.compute_findings(inputs, n_boot=200, n_perm=99))


@pytest.mark.parametrize("endpoint, message", [
    (ENDPOINT | {"target": "bucc", "direction": "xx->en"}, "has no rows in the results table; endpoints present"),
    (ENDPOINT | {"metric": "f1_oracle"}, "has no rows"),
    (ENDPOINT | {"layer": 3}, "has no rows"),
])
def test_an_endpoint_the_table_lacks_is_refused_naming_the_present_ones(tmp_path, table, endpoint, message):
    with pytest.raises(XitConfigError, match=message):
        load_analysis(_folder(tmp_path, table, {"primary_endpoint": endpoint}), tmp_path / "out")


def test_controls_stay_out_of_the_k_statistics(tmp_path, table):
    inputs = load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    assert set(inputs.all_results["kind"]) == {"none", "task", "shuffled_labels", "interpolation"}
    assert set(inputs.results["kind"]) == {"none", "task"} and set(inputs.scores["kind"]) == {"none", "task"}
    assert {"kind", "steps_per_task", "alpha"} <= set(inputs.all_scores.columns)
    training = findings.training_vs_none(inputs, n_boot=200).iloc[0]
    task_scores = task_rows(inputs.primary.rows(inputs.all_scores))
    assert training["n_runs"] == (task_scores["k"] >= 1).sum() == 3 * 3 * 2  # 3 k values × 3 subsets × 2 seeds
    assert training["difference"] == pytest.approx(task_scores.loc[task_scores["k"] >= 1, "score"].mean()
                                                   - task_scores.loc[task_scores["k"] == 0, "score"].mean())


def test_controls_table_and_interpolation_curve(tmp_path, table):
    inputs = load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    table_ = controls.controls_table(inputs).set_index("run_id")
    source = table.loc[table["kind"].eq("task") & table["k"].eq(1), "run_id"].iloc[0]
    assert table_.loc["k1-shuffled", "task_run"] == source
    assert table_.loc["k1-shuffled", "control_minus_task"] == pytest.approx(-5.0)
    assert table_.loc["k1-interp-0.5", "control_minus_task"] == pytest.approx(5.0)
    assert (table_["note"].str.contains("too few runs")).all()
    curve = controls.interpolation_curve(inputs)
    assert curve["alpha"].tolist() == [0.0, 0.25, 0.5, 1.0]
    assert curve["run_id"].tolist()[-1] == source and curve["run_id"].iloc[0].startswith("k0-")
    scores = inputs.primary.rows(inputs.all_scores).set_index("run_id")["score"]
    assert curve["score"].iloc[2] - curve["score"].iloc[3] == pytest.approx(5.0)
    assert curve["score"].iloc[3] == pytest.approx(scores[source])


def _items(folder, run_id: str, languages, missed: int) -> None:
    """Per-item Tatoeba outcomes for one run: 400 items per language, 280 right, then `missed` of those wrong."""
    rows = []
    for language in languages:
        values = np.where(np.arange(400) < 280, 100.0, 0.0)
        values[:missed] = 0.0
        rows += [{"run_id": run_id, "target": "tatoeba", "metric": "accuracy", "language": language, "direction": "xx->en",
                  "layer": 12, "item": f"{language}-{i}", "value": v} for i, v in enumerate(values)]
    (folder / "runs" / run_id).mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(folder / "runs" / run_id / "items.parquet", index=False)


@pytest.mark.parametrize("end_missed, within_noise", [(20, False), (0, True)])
def test_an_interior_peak_is_read_against_item_noise(tmp_path, table, end_missed, within_noise):
    # The fixture's α = 0.5 run scores 5 points above its task run (α = 1); items decide whether that is noise.
    inputs = load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    curve = controls.interpolation_curve(inputs)
    ends = curve[curve["alpha"].isin([0.0, 1.0])].set_index("run_id")["score"]
    assert curve.set_index("alpha").loc[0.5, "score"] > ends.max()
    languages = sorted(table["language"].unique())
    _items(tmp_path, "k1-interp-0.5", languages, missed=0)
    _items(tmp_path, ends.idxmax(), languages, missed=end_missed)
    peaks = controls.interior_peaks(inputs, curve, n_boot=500)
    assert len(peaks) == 1
    peak = peaks.iloc[0]
    assert peak["run_id"] == "k1-interp-0.5" and peak["alpha"] == 0.5 and peak["end_run"] == ends.idxmax()
    assert peak["difference"] == pytest.approx(curve.set_index("alpha").loc[0.5, "score"] - ends.max())
    assert bool(peak["within_noise"]) is within_noise and peak["p_holm"] == pytest.approx(peak["p_value"])
    if within_noise:  # identical items: every bootstrap difference is 0
        assert peak["ci_low"] == peak["ci_high"] == 0.0 and peak["p_value"] == 1.0
    else:  # 20 of 400 items per language: 5 points, interval well above 0
        assert 3.0 < peak["ci_low"] < 5.0 < peak["ci_high"] < 7.0
    found = answer.Findings(**{f: pd.DataFrame() for f in answer.Findings.__dataclass_fields__
                               if f not in ("primary_label", "primary_source")}, primary_label="x", primary_source="grid.json")
    sentence = answer._interpolation_sentence(dataclasses.replace(found, interpolation=curve, interpolation_peaks=peaks))
    assert f"at α = 0.5 is {peak['difference']:+.2f} points above α = {peak['end_alpha']:g}" in sentence
    assert sentence.endswith(": within item noise)." if within_noise else f"Holm p {peak['p_holm']:.2f}).")


def test_interpolation_summary_and_sentence():
    # Two seeds of pool "a" with every alpha; one seed of "b" without its task run (alpha = 1), so not a full curve.
    curve = pd.DataFrame({"tasks": ["a"] * 8 + ["b"] * 2, "seed": [0] * 4 + [1] * 4 + [0, 0],
                          "alpha": [0.0, 0.25, 0.5, 1.0] * 2 + [0.0, 0.5],
                          "score": [90.0, 92.0, 80.0, 50.0, 90.0, 89.0, 78.0, 60.0, 90.0, 70.0]})
    summary = controls.interpolation_summary(curve.assign(source=curve["tasks"] + " seed " + curve["seed"].astype(str)))
    a, b = summary.set_index("tasks").loc["a"], summary.set_index("tasks").loc["b"]
    assert a["α=0"] == pytest.approx(90.0) and a["α=0.25"] == pytest.approx(90.5) and a["α=1"] == pytest.approx(55.0)
    assert a["best_alpha"] == 0.25 and a["seeds"] == 2
    # seed 0's 92 at alpha 0.25 beats both of its ends (90, 50); seed 1's best interior score, 89, does not
    assert a["seeds_with_both_ends_complete"] == 2 and a["seeds_interior_beats_both_ends"] == 1
    assert b["seeds_with_both_ends_complete"] == 0 and np.isnan(b["α=1"])
    found = answer.Findings(**{f: pd.DataFrame() for f in answer.Findings.__dataclass_fields__
                               if f not in ("primary_label", "primary_source")}, primary_label="x", primary_source="grid.json")
    sentence = answer._interpolation_sentence(dataclasses.replace(found, interpolation=curve))
    assert "the mean score over seeds peaks at α = 0 (the untrained end) for b; at α = 0.25 for a;" in sentence
    assert sentence.endswith("beats both ends in 1 of 2 per-seed curves.")
    assert answer._interpolation_sentence(found) == ""


def test_answer_summary_is_written_from_the_numbers(tmp_path, table):
    inputs = load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    found = answer.compute_findings(inputs, n_boot=300, n_perm=99)
    text = answer.answer_summary(found)
    training = found.training.iloc[0]
    assert text.startswith("**Primary endpoint: tatoeba xx->en accuracy, layer 12**")
    assert f"**{training['difference']:+.1f} points**" in text
    assert f"95% CI {training['ci_low']:+.1f} to {training['ci_high']:+.1f}" in text
    k = found.k_effect.iloc[0]
    assert k["endpoint"] == "primary"
    assert f"doubling k changes the score by {k['k_effect']:+.2f} points" in text
    effects = found.task_effects.dropna(subset=["effect"]).sort_values("effect")
    ranked = effects[effects["ci_low"].notna()] if effects["ci_low"].notna().any() else effects
    low, high = ranked.iloc[0], ranked.iloc[-1]
    assert len(ranked) >= 2 and f"{low['task']} ({low['effect']:+.1f} points" in text and f"{high['task']} ({high['effect']:+.1f} points" in text
    which = "Per-task effects" if len(ranked) == len(effects) else "Per-task effects of the tasks with an interval"
    signs = {(True, True): f"{which} are all losses", (False, False): f"{which} are all gains"}
    assert signs.get((low["effect"] < 0, high["effect"] < 0), f"{which} range from") in text
    shuffled = found.controls.set_index("run_id").loc["k1-shuffled"]
    assert f"shuffled_labels on {shuffled['tasks']} seed {int(shuffled['seed'])}: -5.0 points" in text
    effects = answer.effect_sizes(found)
    assert effects["section"].str[0].tolist() == sorted(effects["section"].str[0].tolist())
    assert effects.iloc[0]["estimate"] == pytest.approx(training["difference"])
    assert (effects["section"] == "3 per-task effects").sum() == found.task_effects["task"].nunique()
    # The figure's control rows name their seed, as the sentence does: two seeds of one control are two rows.
    assert f"shuffled_labels on {shuffled['tasks']} seed {int(shuffled['seed'])} − task run" in effects["effect"].tolist()
    # Interpolations have their own figure (score against alpha); the effect-size figure and the controls sentence skip them.
    assert not effects["effect"].str.startswith("interpolation").any() and "interpolation α=" not in text


def test_too_few_runs_give_notes_and_no_interval(tmp_path):
    small = make_results(linear_effect(1.0), k_values=(0, 1, 2), subsets_per_k=2, seeds=(1,))
    inputs = load_analysis(_folder(tmp_path, small, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    found = answer.compute_findings(inputs, n_boot=200, n_perm=99)
    by_k = findings.training_by_k(inputs, n_boot=200)
    assert by_k["ci_low"].isna().all() and (by_k["note"] == "too few runs (n=2) for an interval").all()
    assert found.k_effect["note"].iloc[0].startswith("not estimated") or np.isnan(found.k_effect["k_ci_low"].iloc[0])
    assert found.controls["note"].iloc[0].startswith("no control runs")
    assert found.drift["note"].iloc[0].startswith("no drift.parquet")
    assert found.all_vs_best["note"].iloc[0].startswith("not estimated: no per-item outcomes")
    assert stats.MIN_FOR_INTERVAL == 3


def _with_mlm(table: pd.DataFrame, folder, gap: float) -> pd.DataFrame:
    """Two MLM runs (seeds 1, 2) at the budget of the k=1 runs, `gap` points below the first k=1 task run everywhere;
    per-item Tatoeba outcomes for the pairs in which the MLM run misses gap% more items in every language."""
    task = table[table["kind"].eq("task") & table["k"].eq(1)]
    first = task["tasks"].iloc[0]
    mlm = []
    for run_seed in (1, 2):
        source = task[(task["tasks"] == first) & (task["seed"] == run_seed)]
        mlm.append(source.assign(run_id=f"k1-mlm-s{run_seed}", kind="mlm", value=source["value"] - gap))
        for run_id, drop in ((source["run_id"].iloc[0], 0), (f"k1-mlm-s{run_seed}", int(gap * 4))):
            _items(folder, run_id, sorted(source["language"].unique()), missed=drop)
    return pd.concat([table, *mlm], ignore_index=True)


def test_english_tasks_against_continued_mlm_at_equal_budget(tmp_path, table):
    results = _with_mlm(table, tmp_path, gap=5.0)
    inputs = load_analysis(_folder(tmp_path, results, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    compared = controls.mlm_comparison(inputs, n_boot=500)
    # Every trained task run of the same seed and 100 total steps is a budget peer (this table's total arm: k = 1, 2
    # and 3, 3 subsets each): 9 peers x 2 seeds, 4 endpoints each.
    assert set(compared["total_steps"]) == {100} and len(compared.drop_duplicates(["task_run", "mlm_run"])) == 18
    assert set(compared.groupby(["target", "direction"]).size()) == {18}
    first = compared[compared["task_run"].str.endswith(("-s1", "-s2")) & compared["mlm_run"].str.startswith("k1-mlm")]
    same = first[first["task_tasks"] == table.loc[table["k"].eq(1), "tasks"].iloc[0]]
    assert same["task_minus_mlm"].to_numpy() == pytest.approx(5.0)  # every target and direction
    primary = same[same["primary"]]
    # 20 of 400 items flipped per language: a 5-point paired difference, interval well above 0
    assert len(primary) == 2 and (primary["ci_low"] > 3.0).all() and (primary["ci_high"] < 7.0).all()
    verdict = controls.mlm_verdict(compared).set_index("task_tasks")
    assert verdict.loc[same["task_tasks"].iloc[0], "english_tasks"] == "beat"
    assert verdict.loc[same["task_tasks"].iloc[0], "mean_task_minus_mlm"] == pytest.approx(5.0)
    # Peers without per-item outcomes get no verdict rather than a guess.
    assert set(verdict.drop(index=same["task_tasks"].iloc[0])["english_tasks"]) == {"no per-item outcomes"}
    one_seed = compared[compared["seed"] == 1]
    assert set(controls.mlm_verdict(one_seed)["english_tasks"]) == {"needs a second seed", "no per-item outcomes"}
    matched = load_analysis(_folder(tmp_path, _with_mlm(table, tmp_path, gap=0.0), {"primary_endpoint": ENDPOINT}), tmp_path / "out2")
    again = controls.mlm_verdict(controls.mlm_comparison(matched, n_boot=500)).set_index("task_tasks")
    assert again.loc[same["task_tasks"].iloc[0], "english_tasks"] == "match"


def test_no_mlm_runs_give_an_empty_comparison(tmp_path, table):
    inputs = load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    assert controls.mlm_comparison(inputs).empty and controls.mlm_verdict(controls.mlm_comparison(inputs)).empty


def test_the_answer_states_the_mlm_comparison_from_its_numbers(tmp_path, table):
    inputs = load_analysis(_folder(tmp_path, _with_mlm(table, tmp_path, gap=5.0), {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    found = answer.compute_findings(inputs, n_boot=300, n_perm=99)
    text = answer.answer_summary(found)
    first = table.loc[table["k"].eq(1), "tasks"].iloc[0]
    assert f"{first} at 100 steps +5.0 points (beat, 2 seeds)" in text
    plain = tmp_path / "plain"
    plain.mkdir()
    without = load_analysis(_folder(plain, table, {"primary_endpoint": ENDPOINT}), plain / "out")
    assert "continued multilingual MLM" not in answer.answer_summary(answer.compute_findings(without, n_boot=300, n_perm=99))


def test_coverage_note_counts_the_runs_present_and_names_the_missing(tmp_path):
    results = make_results(linear_effect(2.0), k_values=(0, 1, 2), subsets_per_k=2, seeds=(1,))
    results.to_parquet(tmp_path / "results.parquet", index=False)
    inputs = load_analysis(tmp_path / "results.parquet", tmp_path / "out")
    assert answer.coverage_note(inputs) == ""  # no design file: nothing is known to be missing
    runs = results.drop_duplicates("run_id")[["run_id", "k", "tasks", "seed"]]
    extra = pd.DataFrame({"run_id": ["k3-notrunyet"], "k": [3], "tasks": ["anli+ccg+qqp"], "seed": [1]})
    pd.concat([runs, extra], ignore_index=True).to_parquet(tmp_path / "design-study.parquet", index=False)
    with pytest.warns(UserWarning, match="1 run"):
        inputs = load_analysis(tmp_path / "results.parquet", tmp_path / "out")
    note = answer.coverage_note(inputs)
    assert note.startswith(f"**Incomplete grid:** the table holds {runs['run_id'].nunique()} runs")
    assert "1 run(s) of the grid design have no results: k=3 anli+ccg+qqp seed 1 (run k3-notrunyet)" in note
    assert "`python -m xit run params/study.yaml`" in note


def test_the_answer_states_seed_spread_best_layers_and_the_holm_adjusted_subset_spread(tmp_path, table):
    inputs = load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    found = answer.compute_findings(inputs, n_boot=300, n_perm=99)
    text = answer.answer_summary(found)
    replicated = found.seeds[found.seeds["n_seeds"] >= 2]
    assert len(replicated) >= 2
    for row in replicated.itertuples():
        assert f"k={int(row.k)}: SD {row.mean_seed_std:.1f} points on average, largest range {row.max_seed_range:.1f}" in text
    for row in found.layers.itertuples():
        assert f"k={int(row.k)} layer {int(row.best_layer)}" in text
    tested = found.spread.dropna(subset=["p_value"])
    smallest = tested["p_value"].min()
    assert (f"lack-of-fit p smallest at k={int(tested.loc[tested['p_value'].idxmin(), 'k'])}, {smallest:.3g}, "
            f"{min(1.0, smallest * len(tested)):.3g} after Holm's correction over {len(tested)} k values") in text


def test_drift_is_related_to_the_primary_score_by_rank(tmp_path):
    # Five task runs: the score rises with CKA and falls with the weight distance, exactly; MLM runs stay out.
    drift = pd.DataFrame({"run_id": [f"r{i}" for i in range(6)], "kind": ["task"] * 5 + ["mlm"],
                          "score": [50.0, 60.0, 70.0, 80.0, 90.0, 10.0], "cka": [0.5, 0.6, 0.7, 0.8, 0.9, 0.99],
                          "param_distance": [0.05, 0.04, 0.03, 0.02, 0.01, 0.0], "alignment_gap": [0.1, 0.3, 0.2, 0.5, 0.4, 0.0],
                          "alignment_gap_base": 0.6, "drift_layer": 12})
    association = controls.drift_association(drift).set_index("metric")
    assert association.loc["cka", "spearman_rho"] == pytest.approx(1.0) and association.loc["cka", "n_runs"] == 5
    assert association.loc["param_distance", "spearman_rho"] == pytest.approx(-1.0)
    assert association.loc["alignment_gap", "spearman_rho"] == pytest.approx(0.8)
    assert association.loc["cka", "median"] == pytest.approx(0.7)
    assert controls.drift_association(drift.iloc[:2])["spearman_rho"].isna().all()  # two runs: no rank correlation
    found = answer.Findings(**{f: pd.DataFrame() for f in answer.Findings.__dataclass_fields__ if f not in ("primary_label", "primary_source")},
                            primary_label="x", primary_source="grid.json")
    sentence = answer._drift_sentence(dataclasses.replace(found, drift=drift))
    assert sentence.startswith("Drift at layer 12 against the primary score, over 5 trained task runs: CKA to the untrained "
                               "representations (median 0.700; Spearman ρ = +1.00")
    assert sentence.endswith("The untrained encoder's alignment gap is 0.600.")


def test_single_seed_mlm_comparisons_are_summed_up_without_a_verdict(tmp_path, table):
    results = _with_mlm(table, tmp_path, gap=5.0)
    results = results[results["run_id"] != "k1-mlm-s2"]
    inputs = load_analysis(_folder(tmp_path, results, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    found = answer.compute_findings(inputs, n_boot=300, n_perm=99)
    verdict = controls.mlm_verdict(found.mlm)
    assert (verdict["seeds"] == 1).all() and len(verdict) >= 2
    low, high = verdict["mean_task_minus_mlm"].min(), verdict["mean_task_minus_mlm"].max()
    assert (f"{len(verdict)} more task sets with one seed each, no verdict ({low:+.1f} to {high:+.1f} points)"
            in answer.answer_summary(found))


def test_tasks_not_yet_told_apart_wait_and_the_rest_are_fitted(tmp_path, table):
    # A nested order's first block adds two new tasks together: until another run separates them, the additive
    # model cannot, so their run waits and the k effect is fitted on the others, saying so.
    block = table[table["run_id"] == table.loc[table["k"] == 2, "run_id"].iloc[0]]
    block = block.assign(run_id="k4-block", k=4, tasks=block["tasks"].iloc[0] + "+newtask1+newtask2",
                         steps_per_task=pd.array([25.0] * len(block), dtype="Float64"))
    results = pd.concat([table, block], ignore_index=True)
    inputs = load_analysis(_folder(tmp_path, results, {"primary_endpoint": ENDPOINT}), tmp_path / "out")
    scores = findings.primary_scores(inputs)
    kept, left_out, lone = findings.identified_runs(scores)
    assert left_out == ["newtask1", "newtask2"] and lone == [] and "k4-block" not in kept
    assert kept == set(scores.loc[scores["k"] > 0, "run_id"]) - {"k4-block"}
    found = answer.compute_findings(inputs, n_boot=300, n_perm=99)
    trained = scores.loc[scores["k"] > 0, "run_id"].nunique()
    note = f"{trained - 1} of {trained} task runs; runs with newtask1, newtask2 are left out: the design does not separate those tasks"
    assert found.k_effect["runs_note"].iloc[0] == note and np.isfinite(found.k_effect["k_effect"].iloc[0])
    assert f"This k effect and the subset spread below use {note}." in answer.answer_summary(found)
    assert (found.spread["runs_note"] == note).all()
    # Without the block nothing waits, and the sentence is not written.
    plain = tmp_path / "plain"
    plain.mkdir()
    without = answer.compute_findings(load_analysis(_folder(plain, table, {"primary_endpoint": ENDPOINT}), plain / "out"), n_boot=300, n_perm=99)
    assert (without.k_effect["runs_note"] == "").all() and "the design does not separate" not in answer.answer_summary(without)


def test_the_k_sentence_splits_more_tasks_from_more_steps_where_the_amount_varies():
    row = {"endpoint": "primary", "k_effect": -4.0, "k_ci_low": -6.0, "k_ci_high": -2.0, "p_value": 0.01, "note": "",
           "k_effect_fixed_total": -1.0, "k_total_ci_low": -3.0, "k_total_ci_high": 1.0, "p_value_fixed_total": 0.4,
           "budget_effect": -3.0, "budget_ci_low": -4.0, "budget_ci_high": -2.0, "runs_note": ""}
    text = " ".join(answer._k_sentences(SimpleNamespace(k_effect=pd.DataFrame([row]))))
    assert ("doubling k at the same steps per task (so twice the total) changes the score by -4.00 points "
            "(95% CI -6.00 to -2.00, permutation p = 0.01); at the same total steps (half as many per task) by -1.00 "
            "points (95% CI -3.00 to +1.00, permutation p = 0.4); Holm over the two: 0.02 and 0.4.") in text
    assert text.endswith("Doubling the steps per task on the same tasks changes it by -3.00 points (95% CI -4.00 to -2.00).")
    one_amount = row | {"k_effect_fixed_total": np.nan, "p_value_fixed_total": np.nan}
    assert answer._k_sentences(SimpleNamespace(k_effect=pd.DataFrame([one_amount]))) == [
        "Beyond which tasks were chosen, doubling k changes the score by -4.00 points (95% CI -6.00 to -2.00, permutation p = 0.01)."]


def test_a_task_in_one_run_waits_and_leaves_the_k_effect_unchanged(tmp_path, table):
    # A run whose task no other run has is fitted exactly by its own task effect: it moves no other estimate, but
    # resampling runs would drop every resample without it. It waits, and the k effect is the same to the digit.
    first = table[table["run_id"] == table.loc[table["k"] == 2, "run_id"].iloc[0]]
    lone = first.assign(run_id="k3-lone", k=3, tasks=first["tasks"].iloc[0] + "+lonetask", value=first["value"] - 7.0)
    with_lone = tmp_path / "lone"
    with_lone.mkdir()
    inputs = load_analysis(_folder(with_lone, pd.concat([table, lone], ignore_index=True), {"primary_endpoint": ENDPOINT}),
                           with_lone / "out")
    kept, aliased, lone_tasks = findings.identified_runs(findings.primary_scores(inputs))
    assert aliased == [] and lone_tasks == ["lonetask"] and "k3-lone" not in kept
    design = effects.task_design(stats.task_runs(findings.primary_scores(inputs), include_untrained=False))
    assert "lonetask" in design.names  # the full table does identify it: only the fit's resampling is spared
    fit = findings.task_count_effect(inputs, n_perm=99, n_boot=300)
    plain = findings.task_count_effect(load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out"),
                                       n_perm=99, n_boot=300)
    assert fit.summary["k_effect"].iloc[0] == pytest.approx(plain.summary["k_effect"].iloc[0], abs=1e-9)
    assert fit.summary["runs_note"].iloc[0].endswith(
        "runs with lonetask are left out: those tasks are in too few runs (a task's only run fits its effect exactly and "
        "tells nothing about the rest)")


def test_the_effect_size_figure_shows_both_k_effects_and_the_amount_effect(tmp_path, table):
    found = answer.compute_findings(load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out"),
                                    n_boot=200, n_perm=99, worst_items=False)
    row = {"endpoint": "primary", "k_effect": -4.0, "k_ci_low": -6.0, "k_ci_high": -2.0, "note": "",
           "k_effect_fixed_total": -1.0, "k_total_ci_low": -3.0, "k_total_ci_high": 1.0,
           "budget_effect": -3.0, "budget_ci_low": -4.0, "budget_ci_high": -2.0}
    sizes = answer.effect_sizes(dataclasses.replace(found, k_effect=pd.DataFrame([row])))
    k_rows = sizes[sizes["section"] == "4 k beyond composition"].set_index("effect")
    assert k_rows.loc["log2(k) term at the same total steps: points per doubling of k", ["estimate", "ci_low", "ci_high"]].tolist() == [-1.0, -3.0, 1.0]
    assert k_rows.loc["log2(steps per task) term on the same tasks: points per doubling", "estimate"] == -3.0
    assert k_rows.loc["log2(k) term at the same steps per task: points per doubling of k", "ci_high"] == -2.0
    plain = answer.effect_sizes(found)
    assert "log2(k) term: points per doubling of k" in plain["effect"].tolist()  # one amount per task: one k row


def test_the_subset_spread_sentence_gives_the_verdict_after_holm(tmp_path, table):
    found = answer.compute_findings(load_analysis(_folder(tmp_path, table, {"primary_endpoint": ENDPOINT}), tmp_path / "out"),
                                    n_boot=200, n_perm=99, worst_items=False)
    spread = pd.DataFrame({"k": [1, 2, 3], "p_value": [0.3, 0.02, 0.057], "excess": [0.5, 1.0, -1.07],
                           "observed_sd": [3.0, 6.0, 2.0], "predicted_sd": [2.5, 5.0, 3.07]})
    text = " ".join(answer._robustness_sentences(dataclasses.replace(found, spread=spread)))
    assert ("Subset spread against the additive model: no k shows more spread between subsets than additive task "
            "effects and seed noise explain (lack-of-fit p smallest at k=2, 0.02, 0.06 after Holm's correction over 3 k "
            "values; there the SD over subsets is 6.0 points against 5.0 predicted).") in text
    strong = spread.assign(p_value=[0.3, 0.001, 0.057])
    text = " ".join(answer._robustness_sentences(dataclasses.replace(found, spread=strong)))
    assert "subsets differ beyond additive task effects at k = 2 (lack-of-fit p smallest at k=2, 0.001, 0.003 after" in text


@pytest.mark.parametrize(("low", "high", "text"), [
    (-0.04, 13.46, "95% CI -0.04 to +13.5"),  # a bound that rounds to 0 keeps the digit that says its side
    (0.004, 2.0, "95% CI +0.004 to +2.0"),
    (0.0, -1.25, "95% CI +0.0 to -1.2"),
    (-3.26, 1.04, "95% CI -3.3 to +1.0"),
])
def test_interval_bounds_never_print_a_signed_zero(low, high, text):
    assert answer._interval(low, high, "") == text


def test_robustness_sentences_name_the_amount_arm_they_read():
    assert answer._at_arm(pd.DataFrame({"arm": ["60 steps per task"], "k": [17]})) == " (60 steps per task)"
    assert answer._at_arm(pd.DataFrame({"arm": [""], "k": [4]})) == "" and answer._at_arm(pd.DataFrame()) == ""
