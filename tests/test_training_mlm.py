"""Continued MLM as a run objective: trains through the same loop, logs MLM dev metrics, saves a small head file."""

from __future__ import annotations

import pytest
import torch

from xit.errors import XitConfigError
from xit.training import TrainConfig, train


def test_mlm_objective_trains_the_pseudo_task_at_the_runs_budget(tmp_path, data_dir):
    config = TrainConfig.from_dict({
        "tasks": ["rte"], "objective": "mlm", "mlm_corpus": {"max_sentences": 600}, "mlm_dev_sentences": 40,
        "max_steps": 6, "batch_size": 8, "max_length": 32, "learning_rate": 1e-4, "freeze_word_embeddings": True,
        "eval_at_start": True, "progress": False,
    })
    result = train(config, tmp_path)
    assert set(result.train_log["task"]) == {"mlm"} and len(result.train_log) == 6
    dev = result.dev_metrics.pivot_table(index="step", columns="metric", values="value")
    assert set(dev.columns) == {"accuracy", "nll"} and list(dev.index) == [0, 6]
    assert dev.loc[6, "nll"] < dev.loc[0, "nll"]  # six steps already lower the held-out masked-token loss
    saved = torch.load(str(result.heads_path), map_location="cpu", weights_only=True)
    assert saved["heads"]["mlm"]["head"] == "mlm"
    assert result.heads_path.stat().st_size < 5 * 2**20  # the tied 250002 x 384 decoder is not copied
    assert (result.encoder_dir / "xit_delta.json").is_file()  # frozen word embeddings: saved as a delta


def test_bad_mlm_settings_fail_before_any_compute():
    with pytest.raises(XitConfigError, match="train.objective='mlmm' is not valid"):
        TrainConfig.from_dict({"tasks": ["rte"], "objective": "mlmm"})
    with pytest.raises(XitConfigError, match="eng"):
        TrainConfig.from_dict({"tasks": ["rte"], "objective": "mlm", "mlm_corpus": {"languages": ["eng"]}})
