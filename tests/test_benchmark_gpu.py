"""How benchmarks/gpu_speed.py prices the study's runs from measured step and encode times (docs/speed.md §9)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from gpu_speed import project, run_seconds  # noqa: E402

from xit.grid import GridConfig, expand_design, resolve_grid  # noqa: E402

PARAMS = Path(__file__).resolve().parent.parent / "params"
#: Distinct seconds per step shape (rows of 64 tokens, loss), so each price says which shape it used.
STEPS = {(16, "task"): 1.0, (32, "task"): 2.0, (64, "task"): 4.0, (80, "task"): 5.0, (16, "mlm"): 10.0}


@pytest.fixture(scope="module")
def study_runs(data_dir):
    runs, _ = expand_design(resolve_grid(GridConfig.from_yaml(PARAMS / "study.yaml")))
    return runs


def _run(runs, kind, tasks, steps, seed=0, alpha=None):
    return next(r for r in runs if r.kind == kind and r.tasks_label == tasks and r.total_steps == steps
                and r.seed == seed and r.alpha == alpha)


def test_a_step_is_priced_at_its_tasks_rows_and_evaluation_once_per_run(study_runs):
    # hellaswag has 4 choices: 60 steps of 64 rows; anli is one sequence per example: 60 steps of 16 rows.
    assert run_seconds(_run(study_runs, "task", "hellaswag", 60), STEPS, 7.0, 16) == (60 * 4.0, 7.0)
    assert run_seconds(_run(study_runs, "task", "anli", 60), STEPS, 7.0, 16) == (60 * 1.0, 7.0)
    # Per-task budget over two tasks: 120 steps, half at each task's shape.
    assert run_seconds(_run(study_runs, "task", "anli+hellaswag", 120), STEPS, 7.0, 16) == (60 * 1.0 + 60 * 4.0, 7.0)
    assert run_seconds(_run(study_runs, "mlm", "anli", 60), STEPS, 7.0, 16) == (60 * 10.0, 7.0)


def test_the_baseline_and_derived_weights_only_evaluate(study_runs):
    baseline = next(r for r in study_runs if r.kind == "none")
    interpolated = next(r for r in study_runs if r.kind == "interpolation")
    assert run_seconds(baseline, STEPS, 7.0, 16) == (0.0, 7.0)
    assert run_seconds(interpolated, STEPS, 7.0, 16) == (0.0, 7.0)


def test_a_record_timed_at_other_shapes_is_refused_for_the_grid(data_dir):
    # A record measured at wide.yaml's 32 x 128 batches cannot price the study's 16 x 64 steps.
    record = {"env": {"gpu": "test", "cpu threads": 1}, "encode": [{"device": "cuda", "precision": "fp32", "seconds (full set)": 1.0}],
              "step": [{"device": "cuda", "precision": "fp32", "rows": rows, "tokens": 128, "loss": loss, "seconds": 0.1}
                       for rows, loss in ((32, "task"), (64, "task"), (128, "task"), (160, "task"), (32, "mlm"))]}
    with pytest.raises(SystemExit, match="trains batches of 16 x 64 tokens, but the record timed 32 x 128"):
        project(record, PARAMS / "study.yaml")
