"""Training on real offline data: every registered offline task, a six-head-type mix, and a multi-task run that learns."""

from __future__ import annotations

import numpy as np
import pytest

from xit.tasks import get_task, resolve_pool
from xit.tasks.metrics import METRIC_RANGES
from xit.training import TrainConfig, train

#: Enough steps on one repeated batch for the loss to fall; sized so each task takes a few seconds.
FEW_STEPS = 6


def _batch_size(task: str) -> int:
    head = get_task(task).head
    return {"multiple_choice": 2, "span": 4}.get(head, 8)


def _learning_rate(task: str) -> float:
    # A choice head scores 2 examples x 4-5 endings: at 1e-4 its six-step fall (~0.02 nats on cosmosqa)
    # is smaller than the dropout noise between steps, so the check would test the noise, not learning.
    return 3e-4 if get_task(task).head == "multiple_choice" else 1e-4


@pytest.mark.parametrize("task", resolve_pool("all-offline"))
def test_every_offline_task_trains_a_few_steps(task, e5_small, e5_small_path, tmp_path):
    spec = get_task(task)
    batch = _batch_size(task)
    config = TrainConfig.from_dict({
        "model": str(e5_small_path), "tasks": [task], "max_steps": FEW_STEPS, "batch_size": batch,
        # One batch of examples, seen every step: the loss must go down on it.
        "max_train_examples": 1 if spec.head == "span" else batch, "max_dev_examples": 12,
        "max_length": 64, "learning_rate": _learning_rate(task), "warmup_ratio": 0.0, "freeze_word_embeddings": True,
        "length_grouping": False, "save_model": False, "progress": False, "seed": 0,
    })
    result = train(config, tmp_path, encoder=e5_small)
    losses = result.train_log["loss"].to_numpy()
    assert len(losses) == FEW_STEPS and np.isfinite(losses).all()
    assert losses[-2:].mean() < losses[:2].mean(), f"{task}: loss did not go down: {losses.round(3)}"
    metrics = result.dev_metrics.set_index("metric")["value"]
    assert set(metrics.index) == set(spec.metrics)
    value = metrics[spec.main_metric]
    low, high = METRIC_RANGES[spec.main_metric]
    assert low <= value <= high, f"{task}: {spec.main_metric}={value} outside [{low}, {high}]"
    assert (result.dev_metrics["n"] == 12).all()


def test_six_head_types_in_one_run(e5_small, e5_small_path, tmp_path):
    tasks = ["rte", "stsb", "squad_v2", "piqa", "ud_pos", "wnut17"]
    assert {get_task(t).head for t in tasks} == {"classification", "regression", "span", "multiple_choice", "tagging", "ner"}
    config = TrainConfig.from_dict({
        "model": str(e5_small_path), "tasks": tasks, "max_steps": 12, "batch_size": 4, "max_length": 64,
        "max_train_examples": 48, "max_dev_examples": 16, "learning_rate": 5e-5, "freeze_word_embeddings": True,
        "sampler": {"name": "uniform"}, "save_model": False, "progress": False, "seed": 1,
    })
    result = train(config, tmp_path, encoder=e5_small)
    assert list(result.task_mix["task"]) == tasks
    assert result.task_mix["probability"].tolist() == pytest.approx([1 / 6] * 6)
    assert result.task_mix["steps"].sum() == 12
    assert (result.task_mix["steps"] > 0).sum() >= 4
    for task in tasks:
        spec = get_task(task)
        rows = result.dev_metrics[result.dev_metrics["task"] == task].set_index("metric")["value"]
        assert set(rows.index) == set(spec.metrics), task
        low, high = METRIC_RANGES[spec.main_metric]
        assert low <= rows[spec.main_metric] <= high, (task, rows.to_dict())
    assert list(result.dev_metrics.columns) == ["step", "task", "metric", "value", "n"]
