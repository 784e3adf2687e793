"""Loading the results table: empty or malformed tables fail with a message naming the runs/columns and the fix."""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_tables import linear_effect, make_results

from xit.analysis.report import build_report
from xit.analysis.results import MissingRunsWarning, load_results, missing_runs, resolve_notebook_path, run_table, validate_results
from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import REPO_ROOT


@pytest.fixture()
def table() -> pd.DataFrame:
    return make_results(linear_effect(1.0), k_values=(0, 1, 2), subsets_per_k=2, seeds=(1,))


def test_a_valid_table_loads_typed(tmp_path, table):
    path = tmp_path / "results.parquet"
    table.to_parquet(path, index=False)
    results = load_results(path)
    assert len(results) == len(table)
    assert results["k"].dtype == "int64" and results["layer"].dtype == "int64"
    assert results.loc[results["k"] == 0, "seed"].isna().all()  # the grid leaves k=0's seed empty
    runs = run_table(results)
    assert runs["run_id"].tolist()[0] == "k0-base-sNone" and runs["tasks"].tolist()[0] == "— (baseline)"
    assert len(runs) == 5


def test_missing_file_says_how_to_produce_the_table(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"not found\. Produce it with `python -m xit run params/smoke\.yaml`"):
        load_results(tmp_path / "nowhere.parquet")


def test_unreadable_file(tmp_path):
    path = tmp_path / "results.parquet"
    path.write_text("not parquet")
    with pytest.raises(XitConfigError, match="could not be read as parquet"):
        load_results(path)


def test_missing_columns_are_named(table):
    with pytest.raises(XitConfigError, match=r"missing column\(s\) layer, metric; expected run_id, k, tasks"):
        validate_results(table.drop(columns=["layer", "metric"]))


def test_empty_table_says_no_run_finished(table):
    with pytest.raises(XitConfigError, match=r"has no rows: no run has finished yet\. Produce it with"):
        validate_results(table.iloc[:0])


def test_missing_baseline_names_the_k_present(table):
    with pytest.raises(XitConfigError, match=r"no k=0 baseline run \(k present: 1, 2\).*Add 0 to the grid's k list"):
        validate_results(table[table["k"] > 0])
    assert len(validate_results(table[table["k"] > 0], require_baseline=False)) > 0


def test_empty_values_name_the_runs(table):
    table.loc[table["run_id"] == "k1-anli-s1", "value"] = float("nan")
    with pytest.raises(XitConfigError, match=r"empty 'value' values in \d+ row\(s\) \(runs: k1-anli-s1\)"):
        validate_results(table)


def test_a_trained_run_without_seed_is_refused(table):
    table.loc[table["run_id"] == "k1-anli-s1", "seed"] = pd.NA
    with pytest.raises(XitConfigError, match=r"empty 'seed' values .*runs: k1-anli-s1"):
        validate_results(table)


def test_duplicate_rows_name_the_runs(table):
    doubled = pd.concat([table, table[table["run_id"] == "k2-anli+ccg-s1"]])
    with pytest.raises(XitConfigError, match=r"same result twice for run\(s\) k2-anli\+ccg-s1"):
        validate_results(doubled)


def test_values_off_the_percent_scale(table):
    table.loc[table["metric"] == "accuracy", "value"] /= 100.0
    table.loc[(table["metric"] == "accuracy") & (table["run_id"] == "k1-anli-s1"), "value"] = 140.0
    with pytest.raises(XitConfigError, match=r"outside 0-100 \(runs: k1-anli-s1\)"):
        validate_results(table)


def test_runs_without_headline_rows_are_named(table):
    thresholds_only = table[(table["run_id"] != "k1-ccg-s1") | (table["metric"] == "threshold")]
    with pytest.raises(XitConfigError, match=r"run\(s\) k1-ccg-s1 have no headline metric rows, only threshold"):
        validate_results(thresholds_only)


def test_notebook_paths_resolve_against_the_working_directory_then_notebooks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_notebook_path("../outputs/smoke/results.parquet") == REPO_ROOT / "outputs" / "smoke" / "results.parquet"
    assert resolve_notebook_path("05_report.ipynb") == REPO_ROOT / "notebooks" / "05_report.ipynb"
    (tmp_path / "results.parquet").touch()
    assert resolve_notebook_path("results.parquet") == tmp_path / "results.parquet"
    assert resolve_notebook_path("new/report") == tmp_path / "new" / "report"
    assert resolve_notebook_path(tmp_path) == tmp_path


def test_build_report_fails_before_starting_a_kernel(tmp_path):
    with pytest.raises(DataNotFoundError, match="python -m xit run params/smoke.yaml"):
        build_report(tmp_path / "missing.parquet", tmp_path / "report")
    assert not (tmp_path / "report").exists()


def _write_design(folder, table, extra_runs):
    design = table.drop_duplicates("run_id")[["run_id", "k", "tasks", "seed"]]
    design = pd.concat([design, pd.DataFrame(extra_runs)], ignore_index=True)
    design["seed"] = pd.array(design["seed"], dtype="Int64")
    design.to_parquet(folder / "design-smoke.parquet", index=False)


def test_runs_of_the_design_without_results_are_named(tmp_path, table):
    table.to_parquet(tmp_path / "results.parquet", index=False)
    _write_design(tmp_path, table, [{"run_id": "abc123", "k": 2, "tasks": "ccg+squad_v1", "seed": 1}])
    with pytest.warns(MissingRunsWarning, match=r"1 run\(s\) of the grid design have no results: k=2 ccg\+squad_v1 seed 1 "
                                                r"\(run abc123\)\. Finish them with `python -m xit run params/smoke\.yaml`") as caught:
        results = load_results(tmp_path / "results.parquet")
    assert len(results) == len(table)
    assert f"a failed run's error is in {tmp_path / 'runs'}/<run_id>/error.txt" in str(caught[0].message)


def test_a_pilot_sharing_the_folder_does_not_count_its_extra_runs_as_missing(tmp_path, table):
    # results/study holds the study's table and grid.json beside the pilot's design, whose seed-2 runs the study never plans.
    table.to_parquet(tmp_path / "results.parquet", index=False)
    _write_design(tmp_path, table, [{"run_id": "study1", "k": 2, "tasks": "ccg+squad_v1", "seed": 1}])
    (tmp_path / "design-smoke.parquet").rename(tmp_path / "design-study.parquet")
    _write_design(tmp_path, table, [{"run_id": "pilot2", "k": 1, "tasks": "anli", "seed": 2}])
    (tmp_path / "design-smoke.parquet").rename(tmp_path / "design-study-pilot.parquet")
    (tmp_path / "grid.json").write_text('{"name": "study"}')
    missing = missing_runs(tmp_path / "results.parquet", table)
    assert missing["run_id"].tolist() == ["study1"] and missing["grid"].tolist() == ["study"]
    (tmp_path / "grid.json").unlink()  # without grid.json every design sharing runs with the table counts
    assert sorted(missing_runs(tmp_path / "results.parquet", table)["run_id"]) == ["pilot2", "study1"]


def test_a_missing_baseline_names_the_baseline_run_of_the_design(tmp_path, table):
    trained = table[table["k"] > 0]
    trained.to_parquet(tmp_path / "results.parquet", index=False)
    _write_design(tmp_path, trained, [{"run_id": "base0", "k": 0, "tasks": "", "seed": None}])
    with pytest.raises(XitConfigError, match=r"no k=0 baseline run .* k=0 baseline \(run base0\)"):
        load_results(tmp_path / "results.parquet")


def test_setup_columns_are_kept_when_present(table):
    table = table.assign(split="test", threshold_source="NA", prefix="query:/query:", pooling="mean", max_length=256, precision="fp32")
    table.loc[table["metric"] == "f1", "threshold_source"] = "carried-halves"
    results = validate_results(table)
    assert list(results.columns[-6:]) == ["split", "threshold_source", "prefix", "pooling", "max_length", "precision"]
    assert set(results.loc[results["metric"] == "f1", "threshold_source"]) == {"carried-halves"}
