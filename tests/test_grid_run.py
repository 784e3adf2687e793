"""Grid execution with papermill on small fixture notebooks: failures, kill + resume, Dask = serial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xit.grid import GridConfig, expand_runs, resolve_grid, run_grid

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "notebooks"
ROWS_PER_RUN = 4  # the fixture retrieval notebook: 2 languages x 2 directions


def grid_fields(out: Path, pool: list[str], ks: list[int]) -> dict:
    """A fixture grid: real task names and evaluation settings, stand-in notebooks that run in seconds."""
    return dict(
        name="fixture",
        ks=ks,
        pool=pool,
        seeds=[0],
        train={"max_steps": 1},
        eval={"targets": ["tatoeba"], "tatoeba_languages": ["deu", "fra"], "tatoeba_max_sentences": 10},
        output_dir=str(out),
        training_notebook=str(FIXTURES / "fixture_training.ipynb"),
        retrieval_notebook=str(FIXTURES / "fixture_retrieval.ipynb"),
    )


def comparable(table: pd.DataFrame, out: Path) -> pd.DataFrame:
    """A results table with the output folder taken out of the model paths, rows in a fixed order."""
    table = table.copy()
    table["model"] = table["model"].str.replace(str(out), "<out>", regex=False)
    return table.sort_values(["run_id", "language", "direction"]).reset_index(drop=True)


def statuses(out: Path) -> dict[str, dict]:
    """status.json of every run folder that has one."""
    found = {}
    for path in (out / "runs").glob("*/status.json"):
        try:
            found[path.parent.name] = json.loads(path.read_text())
        except json.JSONDecodeError:  # pragma: no cover - written atomically, never half
            raise
    return found


def done_runs(out: Path) -> dict[str, float]:
    """Finished runs and when they finished."""
    return {rid: s["finished"] for rid, s in statuses(out).items() if s["status"] == "done"}


@pytest.fixture(scope="module")
def serial_with_failure(tmp_path_factory, data_dir):
    """The fixture grid run serially while every run training on mrpc fails, then re-run with the fault gone."""
    out = tmp_path_factory.mktemp("serial")
    config = GridConfig.from_dict(grid_fields(out, ["rte", "mrpc"], [0, 1, 2]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XIT_FIXTURE_FAIL_TASK", "mrpc")
        failing = run_grid(config, progress=False)
    # What a failed run leaves behind, read before the re-run replaces it.
    evidence = {}
    for outcome in failing.failed:
        run_dir = Path(outcome.path)
        executed = json.loads((run_dir / "01_intermediate_training.ipynb").read_text())  # the partial notebook
        evidence[outcome.run_id] = {
            "error.txt": (run_dir / "error.txt").read_text(),
            "notebook errors": [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"],
            "status": json.loads((run_dir / "status.json").read_text())["status"],
            "partial": pd.read_parquet(out / "results.parquet"),
        }
    analysed = GridConfig.from_dict({**grid_fields(out, ["rte", "mrpc"], [0, 1, 2]),
                                     "analysis": [str(FIXTURES / "fixture_analysis.ipynb")]})
    fixed = run_grid(analysed, progress=False)
    return out, failing, evidence, fixed, pd.read_parquet(out / "results.parquet")


def test_failing_run_is_reported_and_does_not_stop_the_others(serial_with_failure):
    out, failing, evidence, fixed, _ = serial_with_failure
    assert not failing.ok
    assert sorted(o.tasks for o in failing.failed) == ["mrpc", "mrpc+rte"]
    assert sorted(o.tasks for o in failing.done) == ["", "rte"]
    for outcome in failing.failed:
        left = evidence[outcome.run_id]
        assert "fixture: task mrpc fails on purpose" in outcome.error
        assert "fixture: task mrpc fails on purpose" in left["error.txt"]
        assert left["notebook errors"] and left["notebook errors"][0]["ename"] == "RuntimeError"
        assert left["status"] == "failed"
    assert "FAILED" in str(failing) and "error.txt" in str(failing)
    # Only the done runs were collected, each once.
    partial = left["partial"]
    assert sorted(partial["tasks"].unique()) == ["", "rte"]
    assert (partial["run_id"].value_counts() == ROWS_PER_RUN).all()

    # With the fault gone, a re-run executes only the failed runs.
    assert fixed.ok
    assert sorted(o.tasks for o in fixed.skipped) == ["", "rte"]
    assert sorted(o.tasks for o in fixed.done) == ["mrpc", "mrpc+rte"]
    assert not any((Path(o.path) / "error.txt").exists() for o in fixed.done)
    table = pd.read_parquet(out / "results.parquet")
    assert list(table.columns[:4]) == ["run_id", "k", "tasks", "seed"]
    assert (table["run_id"].value_counts() == ROWS_PER_RUN).all() and table["run_id"].nunique() == 4
    assert table.loc[table["k"] == 0, "seed"].isna().all() and (table.loc[table["k"] > 0, "seed"] == 0).all()
    assert table["value"].between(0, 100).all()
    # The analysis notebook ran after the grid, on the collected table.
    assert [(a.run_id, a.status) for a in fixed.analysis] == [("fixture_analysis", "done")]
    runs_per_k = pd.read_csv(out / "report" / "runs_per_k.csv")
    assert runs_per_k.to_dict("list") == {"k": [0, 1, 2], "runs": [1, 2, 1]}
    assert (out / "report" / "fixture_analysis.ipynb").is_file()
    summary = pd.read_parquet(out / "summary-fixture.parquet")
    assert sorted(summary["status"]) == ["done", "done", "done", "skipped", "skipped"]


def test_evaluation_only_change_reuses_the_trained_encoders(serial_with_failure):
    out, _, _, fixed, _ = serial_with_failure
    fields = grid_fields(out, ["rte", "mrpc"], [0, 1, 2])
    fields["eval"] = {**fields["eval"], "tatoeba_languages": ["deu"]}
    summary = run_grid(GridConfig.from_dict(fields), progress=False)
    assert summary.ok and len(summary.done) == 4  # new evaluation, new run ids
    assert {o.run_id for o in summary.done}.isdisjoint(o.run_id for o in fixed.outcomes)
    assert not any(o.trained for o in summary.done)  # every encoder came from the cache
    assert not any((Path(o.path) / "01_intermediate_training.ipynb").exists() for o in summary.done)
    assert all((Path(o.path) / "02_retrieval.ipynb").exists() for o in summary.done)


def test_dask_local_cluster_gives_the_serial_results(serial_with_failure, tmp_path):
    out, _, _, _, serial_table = serial_with_failure
    config = GridConfig.from_dict(grid_fields(tmp_path / "dask", ["rte", "mrpc"], [0, 1, 2]))
    summary = run_grid(config, backend="dask", workers=2, progress=False)
    assert summary.ok and len(summary.done) == 4
    serial = comparable(serial_table, out)
    distributed = comparable(pd.read_parquet(tmp_path / "dask" / "results.parquet"), tmp_path / "dask")
    pd.testing.assert_frame_equal(serial, distributed)


def _start(grid_file: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xit", "run", str(grid_file)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_done(out: Path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(done_runs(out)) < count:
        assert proc.poll() is None, f"grid exited early:\n{proc.stdout.read()}"
        assert time.monotonic() < deadline, "grid made no progress"
        time.sleep(0.2)


def test_killed_grid_resumes_and_collects_every_run_once(tmp_path, data_dir):
    out = tmp_path / "out"
    grid_file = tmp_path / "kill.yaml"
    grid_file.write_text(yaml.safe_dump(grid_fields(out, ["rte", "cola", "mrpc"], [0, 1, 3])))
    runs = expand_runs(resolve_grid(GridConfig.from_yaml(grid_file)))
    assert len(runs) == 5  # baseline, three singletons, the full set
    # Runs last long enough that the grid cannot finish between a poll and the signal.
    env = {**os.environ, "PYTHONPATH": str(REPO), "XIT_FIXTURE_SLEEP": "1.5"}

    # SIGKILL: no chance to clean up.
    proc = _start(grid_file, env)
    _wait_for_done(out, 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    after_kill = done_runs(out)
    assert 1 <= len(after_kill) < len(runs)

    # SIGINT (Ctrl-C) on the resumed grid, after it finished one more run.
    proc = _start(grid_file, env)
    _wait_for_done(out, len(after_kill) + 1, proc)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "interrupted" in output and "run it again" in output
    after_interrupt = done_runs(out)
    assert len(after_interrupt) < len(runs)
    assert all(after_interrupt[rid] == t for rid, t in after_kill.items())  # done runs were not re-executed

    # The last re-run finishes only what is left.
    summary = run_grid(grid_file, progress=False)
    assert summary.ok
    assert {o.run_id for o in summary.skipped} == set(after_interrupt)
    assert {o.run_id for o in summary.done} == {r.run_id for r in runs} - set(after_interrupt)
    assert all(done_runs(out)[rid] == t for rid, t in after_interrupt.items())
    table = pd.read_parquet(out / "results.parquet")
    assert sorted(table["run_id"].unique()) == sorted(r.run_id for r in runs)
    assert (table["run_id"].value_counts() == ROWS_PER_RUN).all()  # every run exactly once
    assert not table.duplicated(["run_id", "language", "direction", "metric", "layer"]).any()
