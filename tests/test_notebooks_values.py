"""Notebooks 03, 04 and the report (05) run on their defaults (the committed smoke-design fixture) with papermill, and
every table they write to output_dir/tables/ equals the same table recomputed here from the fixture; the headline
numbers also equal a direct pandas computation from the raw parquet files."""

from __future__ import annotations

import io
import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xit.analysis import answer, controls, findings, published, stats
from xit.analysis.inputs import load_analysis
from xit.analysis.multiplicity import holm
from xit.analysis.results import run_table
from xit.paths import REPO_ROOT, export_xit_pythonpath, notebook_path

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "analysis"
RESULTS = FIXTURE / "results.parquet"
N_BOOT, N_PERM, SEED = 2000, 999, 0  # the notebooks' defaults


def _execute(name: str, out: Path) -> Path:
    import papermill as pm

    export_xit_pythonpath()  # the kernel imports this checkout's xit
    executed = out / f"{name}.ipynb"
    pm.execute_notebook(str(notebook_path(f"{name}.ipynb")), str(executed), parameters={"output_dir": str(out)},
                        cwd=str(REPO_ROOT / "notebooks"), kernel_name="python3", progress_bar=False,
                        extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    return executed


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return load_analysis(RESULTS, tmp_path_factory.mktemp("recomputed"))


@pytest.fixture(scope="module")
def nb03(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb03")
    _execute("03_scaling", out)
    return out / "tables"


@pytest.fixture(scope="module")
def nb04(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb04")
    _execute("04_robustness", out)
    return out / "tables"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from xit.analysis.report import build_report

    out = tmp_path_factory.mktemp("report")
    return build_report(RESULTS, out)


def _same(folder: Path, name: str, expected: pd.DataFrame) -> pd.DataFrame:
    """The notebook's CSV equals the recomputed table after the same CSV round trip."""
    written = pd.read_csv(folder / f"{name}.csv")
    recomputed = pd.read_csv(io.StringIO(expected.to_csv(index=not isinstance(expected.index, pd.RangeIndex))))
    pd.testing.assert_frame_equal(written, recomputed, check_dtype=False, rtol=1e-9)
    return written


def _raw() -> tuple[pd.DataFrame, dict]:
    return pd.read_parquet(RESULTS), json.loads((FIXTURE / "grid.json").read_text())


def _direct_primary_scores() -> pd.Series:
    """Per run: mean over languages of the primary endpoint's rows, from the raw table (no xit code)."""
    raw, grid = _raw()
    endpoint = grid["primary_endpoint"]
    layer = raw["layer"].max() + 1 + endpoint["layer"] if endpoint["layer"] < 0 else endpoint["layer"]
    rows = raw[(raw["target"] == endpoint["target"]) & (raw["direction"] == endpoint["direction"])
               & (raw["metric"] == endpoint["metric"]) & (raw["layer"] == layer) & (raw["language"] != "all")]
    return rows.groupby("run_id")["value"].mean()


def test_fixture_is_small_and_complete():
    size = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert size < 1_000_000
    raw, grid = _raw()
    assert grid["primary_endpoint"]["target"] == "tatoeba"
    assert {"none", "task", "shuffled_labels"} <= set(raw["kind"])
    assert (FIXTURE / "drift.parquet").is_file()
    assert any((FIXTURE / "runs").glob("*/items.parquet"))


def test_03_primary_endpoint_and_training_vs_none(nb03, inputs):
    raw, grid = _raw()
    runs = _same(nb03, "runs", run_table(inputs.all_results))
    assert sorted(runs["run_id"]) == sorted(raw["run_id"].unique())
    endpoint = _same(nb03, "endpoint", findings.endpoint_table(inputs)).iloc[0]
    assert (endpoint["target"], endpoint["direction"], endpoint["metric"]) == tuple(grid["primary_endpoint"][c] for c in ("target", "direction", "metric"))
    assert endpoint["layer"] == raw["layer"].max()  # layer -1 = the deepest evaluated
    direct = _direct_primary_scores()
    kinds = raw.drop_duplicates("run_id").set_index("run_id")["kind"]
    base = direct[kinds[direct.index] == "none"].mean()
    trained = direct[kinds[direct.index] == "task"]
    assert endpoint["untrained (k=0)"] == pytest.approx(base)
    table = _same(nb03, "training_vs_none", findings.training_vs_none(inputs, n_boot=N_BOOT, seed=SEED))
    primary = table.iloc[0]
    assert primary["endpoint"] == "primary" and primary["difference"] == pytest.approx(trained.mean() - base)
    assert primary["n_runs"] == len(trained)  # controls never enter
    secondary = table[table["endpoint"] == "secondary"]
    assert len(secondary) == raw[raw["metric"] == raw["target"].map({"tatoeba": "accuracy", "bucc-tatoeba": "f1", "lareqa": "map@20"})][
        ["target", "direction", "layer"]].drop_duplicates().shape[0] - 1
    assert secondary["p_adjusted"].to_numpy() == pytest.approx(holm(secondary["p_value"].to_numpy()), nan_ok=True)
    by_k = _same(nb03, "training_by_k", findings.training_by_k(inputs, n_boot=N_BOOT, seed=SEED))
    few = by_k[by_k["n_runs"] < stats.MIN_FOR_INTERVAL]
    assert len(few) and few["ci_low"].isna().all() and few["note"].str.contains("too few runs").all()


def test_03_task_effects_k_effect_and_paired_items(nb03, inputs):
    fit = findings.task_count_effect(inputs, n_perm=N_PERM, n_boot=N_BOOT, seed=SEED)
    effects = _same(nb03, "task_effects", findings.task_effects_table(fit, inputs))
    k_effect = _same(nb03, "k_effect", findings.k_effect_table(fit, inputs))
    assert set(effects["task"]) <= {"rte", "ud_pos", "wnli"} and len(effects)
    if isinstance(fit, str):  # the smoke design cannot separate k from composition: said, no number invented
        assert k_effect["note"].str.startswith("not estimated").all()
        direct = _direct_primary_scores()
        raw, _ = _raw()
        info = raw.drop_duplicates("run_id").set_index("run_id")
        base = direct[info.loc[direct.index, "kind"] == "none"].mean()
        for row in effects.itertuples():
            single = direct[(info.loc[direct.index, "kind"] == "task") & (info.loc[direct.index, "tasks"] == row.task)]
            assert row.effect == pytest.approx(single.mean() - base)
    _same(nb03, "scaling", stats.scaling_table(inputs.results, layer=inputs.layer, n_boot=N_BOOT, seed=SEED))
    _same(nb03, "trend", stats.trend_test(inputs.scores, n_boot=N_BOOT, seed=SEED))
    paired = _same(nb03, "all_vs_best_items", findings.paired_all_vs_best(inputs, n_boot=N_BOOT, seed=SEED))
    mean = paired[paired["language"] == "mean"].iloc[0]
    items = {run: pd.read_parquet(FIXTURE / "runs" / run / "items.parquet") for run in (mean["run_a"], mean["run_b"])}
    endpoint = inputs.primary

    def direct_item_score(run: str) -> float:
        rows = items[run]
        rows = rows[(rows["target"] == endpoint.target) & (rows["direction"] == endpoint.direction)
                    & (rows["layer"] == endpoint.layer) & (rows["metric"] == endpoint.metric)]
        return float(rows.groupby("language", observed=True)["value"].mean().mean())

    assert mean["difference"] == pytest.approx(direct_item_score(mean["run_a"]) - direct_item_score(mean["run_b"]), abs=1e-4)
    assert mean["score_a"] == pytest.approx(_direct_primary_scores()[mean["run_a"]], abs=1e-4)  # items reproduce the rows


def test_04_robustness_controls_and_drift(nb04, inputs):
    _same(nb04, "spread_vs_additive", findings.spread_vs_additive(inputs, n_sim=N_BOOT, seed=SEED))
    _same(nb04, "seed_spread", findings.seed_spread(inputs))
    languages = _same(nb04, "language_spread", findings.language_spread(inputs, n_boot=N_BOOT, seed=SEED))
    few = languages[languages["n_runs"] < stats.MIN_FOR_INTERVAL]
    assert few["score_ci_low"].isna().all() and (few["note"] == few["n_runs"].map(lambda n: f"too few runs (n={n}) for an interval")).all()
    _same(nb04, "worst_language_items", findings.worst_language_items(inputs, n_boot=N_BOOT, seed=SEED))
    _same(nb04, "layers", findings.layers_table(inputs))
    table = _same(nb04, "controls", controls.controls_table(inputs))
    raw, _ = _raw()
    info = raw.drop_duplicates("run_id").set_index("run_id")
    control_runs = info[~info["kind"].isin(["task", "none"])]
    assert sorted(table["run_id"]) == sorted(control_runs.index)
    direct = _direct_primary_scores()
    for row in table.itertuples():
        assert row.score == pytest.approx(direct[row.run_id])
        match = info[(info["kind"] == "task") & (info["tasks"] == row.tasks) & (info["total_steps"] == row.total_steps)]
        assert row.task_run in set(match.index) and row.control_minus_task == pytest.approx(direct[row.run_id] - direct[row.task_run])
        assert "too few runs" in row.note  # one run per control: no interval
    curve = _same(nb04, "interpolation", controls.interpolation_curve(inputs))
    summary = _same(nb04, "interpolation_summary", controls.interpolation_summary(controls.interpolation_curve(inputs)))
    assert summary["tasks"].tolist() == sorted(curve["tasks"].unique())
    peaks = _same(nb04, "interpolation_peaks", controls.interior_peaks(inputs, curve, n_boot=N_BOOT, seed=SEED))
    assert len(peaks) == summary["seeds_interior_beats_both_ends"].sum()
    # The fixture's MLM run (rte's budget, 4 steps) against every task run of its seed and steps, per endpoint.
    mlm = _same(nb04, "mlm_comparison", controls.mlm_comparison(inputs, n_boot=N_BOOT, seed=SEED))
    peers = info[(info["kind"] == "task") & (info["k"] > 0) & (info["total_steps"] == 4)].index
    assert set(mlm["mlm_run"]) == set(info.index[info["kind"] == "mlm"]) and set(mlm["task_run"]) == set(peers)
    primary = mlm[mlm["primary"].astype(bool)]
    for row in primary.itertuples():
        assert row.task_minus_mlm == pytest.approx(direct[row.task_run] - direct[row.mlm_run])
        assert row.ci_low <= row.task_minus_mlm <= row.ci_high
    _same(nb04, "mlm_verdict", controls.mlm_verdict(mlm))
    drift = _same(nb04, "drift", controls.drift_table(inputs))
    assert set(drift["run_id"]) == set(pd.read_parquet(FIXTURE / "drift.parquet")["run_id"]) & set(info.index)


def test_report_opens_with_the_answer_and_ends_with_the_appendix(report, inputs):
    tables = report.parent / "tables"
    found = answer.compute_findings(inputs, n_boot=N_BOOT, n_perm=N_PERM, seed=SEED)
    effects = _same(tables, "effect_sizes", answer.effect_sizes(found))
    assert effects["section"].tolist() == sorted(effects["section"].tolist(), key=lambda s: int(s.split()[0]))
    primary = found.training.iloc[0]
    assert effects.iloc[0]["estimate"] == pytest.approx(primary["difference"])
    html = report.read_text(encoding="utf-8")
    headings = [h.strip() for h in re.findall(r"<h[12][^>]*>([^<]*)", html)]
    assert headings[1] == "The answer" and headings[-1].startswith("Appendix")  # right after the title; appendix last
    assert [h.split(" ")[0] for h in headings[2:-1]] == [str(i) for i in range(1, 8)]  # findings (1)-(7) in order
    start, end = html.index('id="The-answer"'), html.index('id="1-%C2%B7-The-primary-endpoint"')
    opening = unescape(re.sub(r"<[^>]+>", " ", html[start:end]))
    assert f"{primary['difference']:+.1f} points" in opening and inputs.primary.label in opening
    first_image = html.index("<img")
    assert start < first_image < end and 'alt="The answer: effect sizes' in html[first_image:first_image + 200]
    text = re.sub(r"<[^>]+>", " ", html)
    # The paper's own control in section 6: the fixture's MLM run against its budget peers, table and figure.
    _same(tables, "mlm_comparison", found.mlm)
    assert text.index("Table 10b.") < text.index("7 · Drift") and 'alt="English intermediate tasks against continued' in html
    unmatched = pd.read_csv(tables / "published_unmatched.csv")
    assert len(unmatched) == (published.comparison_table(inputs.results)["match"] != published.SAME).sum()
    assert text.index("Appendix: provenance") < text.index("results sha256")
