"""The real smoke grid (params/smoke.yaml) into the repository's outputs/smoke, then again: all skipped.

The analysis notebooks read outputs/smoke/results.parquet later in the same test session.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from xit.grid import GridConfig, expand_runs, resolve_grid, run_grid

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "params" / "smoke.yaml"


def test_smoke_grid_runs_offline_then_skips_every_run(data_dir, monkeypatch):
    monkeypatch.chdir(REPO)  # output_dir: outputs/smoke is relative to the repository
    runs = expand_runs(resolve_grid(GridConfig.from_yaml(SMOKE)))
    assert sorted((r.k, r.tasks) for r in runs) == [(0, ()), (1, ("rte",)), (1, ("ud_pos",)), (2, ("rte", "ud_pos"))]

    first = run_grid(SMOKE, progress=False)
    assert first.ok, str(first)
    assert len(first.done) + len(first.skipped) == len(runs)

    out = REPO / "outputs" / "smoke"
    table = pd.read_parquet(out / "results.parquet")
    assert sorted(table["run_id"].unique()) == sorted(r.run_id for r in runs)
    key = ["run_id", "layer", "target", "language", "direction", "metric"]
    assert not table.duplicated(key).any()  # every run exactly once
    assert set(table["target"]) == {"tatoeba", "bucc-tatoeba", "lareqa"}
    assert set(table["layer"]) == {6, 12}
    assert table.groupby("run_id")["layer"].nunique().eq(2).all()
    accuracy = table[table["metric"] == "accuracy"]
    assert set(accuracy["language"]) >= {"deu", "fra", "cmn"} and accuracy["value"].between(0, 100).all()
    assert table.loc[table["k"] == 0, "tasks"].eq("").all() and table.loc[table["k"] == 0, "seed"].isna().all()
    assert set(table.loc[table["k"] == 2, "tasks"]) == {"rte+ud_pos"}
    for run in runs:  # executed notebooks and the status the report reads
        status = json.loads((run.run_dir / "status.json").read_text())
        assert status["status"] == "done" and status["params"]["k"] == run.k
        assert (run.run_dir / "02_retrieval.ipynb").is_file()
    dev = pd.read_parquet(out / "dev_metrics.parquet")
    assert set(dev["task"]) == {"rte", "ud_pos"} and set(dev["k"]) == {1, 2}

    start = time.perf_counter()
    again = run_grid(SMOKE, progress=False)
    seconds = time.perf_counter() - start
    assert again.ok and len(again.skipped) == len(runs) and not again.done and not again.failed
    assert seconds < 15, f"a fully done grid should only validate and collect, took {seconds:.1f} s"
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), table)
