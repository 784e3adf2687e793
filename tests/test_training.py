"""Training: config validation, samplers, determinism, kill-and-resume."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
import pytest
from safetensors.torch import load_file

from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import REPO_ROOT
from xit.training import SamplerConfig, TaskBatches, TrainConfig, task_for_step, task_probabilities, train

SIZES = {"a": 100, "b": 400, "c": 1600, "d": 6400}


# ------------------------------------------------------------------ samplers

def test_proportional_sampler_exact():
    p = task_probabilities(SIZES, SamplerConfig(name="proportional"))
    assert p == pytest.approx({"a": 100 / 8500, "b": 400 / 8500, "c": 1600 / 8500, "d": 6400 / 8500})


def test_capped_sampler_exact():
    p = task_probabilities(SIZES, SamplerConfig(name="capped", cap=1000))
    assert p == pytest.approx({"a": 100 / 2500, "b": 400 / 2500, "c": 1000 / 2500, "d": 1000 / 2500})


def test_temperature_sampler_exact():
    # T = 2: p ∝ sqrt(n) = 10, 20, 40, 80 (sum 150).
    p = task_probabilities(SIZES, SamplerConfig(name="temperature", temperature=2))
    assert p == pytest.approx({"a": 10 / 150, "b": 20 / 150, "c": 40 / 150, "d": 80 / 150})
    # With a cap of 1600: sqrt(min(n, 1600)) = 10, 20, 40, 40 (sum 110), as jiant's temperature sampler.
    p = task_probabilities(SIZES, SamplerConfig(name="temperature", temperature=2, cap=1600))
    assert p == pytest.approx({"a": 10 / 110, "b": 20 / 110, "c": 40 / 110, "d": 40 / 110})


def test_uniform_sampler_exact():
    assert task_probabilities(SIZES, SamplerConfig(name="uniform")) == pytest.approx({t: 0.25 for t in SIZES})


def test_realised_task_draws_follow_the_sampler_and_are_reproducible():
    p = task_probabilities(SIZES, SamplerConfig(name="temperature", temperature=2))
    draws = [task_for_step(p, seed=3, step=s) for s in range(6000)]
    share = {t: draws.count(t) / len(draws) for t in SIZES}
    assert share == pytest.approx(p, abs=0.02)
    assert draws[:50] == [task_for_step(p, seed=3, step=s) for s in range(50)]
    assert draws[:50] != [task_for_step(p, seed=4, step=s) for s in range(50)]


def test_task_batches_group_by_length_and_resume():
    lengths = list(np.random.default_rng(0).integers(5, 120, size=1000))
    batches = TaskBatches(lengths, batch_size=10, seed=1)
    first_epoch = [batches.next() for _ in range(len(batches))]
    assert sorted(i for b in first_epoch for i in b) == list(range(1000))  # an epoch covers every feature once
    spread = np.mean([np.ptp([lengths[i] for i in b]) for b in first_epoch])
    random_spread = np.mean([np.ptp([lengths[i] for i in b]) for b in TaskBatches(lengths, 10, 1, group_by_length=False)._batches])
    assert spread < random_spread / 5  # grouped batches hold similar lengths
    batches.next()
    state = batches.state()
    ahead = [batches.next() for _ in range(5)]
    again = TaskBatches(lengths, batch_size=10, seed=1)
    again.restore(state)
    assert [again.next() for _ in range(5)] == ahead


# ------------------------------------------------------------------ bad input fails before compute

@pytest.mark.parametrize(
    "bad, message",
    [
        ({"tasks": ["anli", "squadd"]}, "unknown task 'squadd'. Did you mean 'squad_v2', 'squad_v1'?"),
        ({"tasks": []}, "must be a non-empty list of task names"),
        ({"sampler": {"name": "annealed"}}, "train.sampler.name='annealed' is not valid"),
        ({"sampler": "temprature"}, "Did you mean 'temperature'"),
        ({"sampler": {"name": "capped"}}, "needs train.sampler.cap"),
        ({"sampler": {"name": "temperature", "temperature": 0}}, "temperature=0 must be a positive number"),
        ({"max_steps": 0}, "train.max_steps=0 must be a positive integer"),
        ({"max_steps": -5}, "train.max_steps=-5 must be a positive integer"),
        ({"max_steps": None, "epochs": 0}, "train.epochs=0 must be a positive number"),
        ({"batch_size": 0}, "train.batch_size=0 must be a positive integer"),
        ({"precision": "fp8"}, "train.precision='fp8' is not valid"),
        ({"learning_rate": 3}, "train.learning_rate=3 must be in (0, 1)"),
        ({"max_train_examples": {"hellaswag": 10}}, "names task 'hellaswag', which is not in train.tasks"),
        ({"contamination": "ignore"}, "train.contamination='ignore' is not valid"),
        ({"eval_targets": ["tatoba"]}, "Did you mean 'tatoeba'"),
        ({"lr": 1e-5}, "unknown field 'lr' in train."),
    ],
)
def test_bad_config_fails_with_message(bad, message):
    with pytest.raises(XitConfigError) as err:
        TrainConfig.from_dict({"tasks": ["anli"], **bad})
    assert message in str(err.value)


def test_unknown_task_lists_known_ones():
    with pytest.raises(XitConfigError, match="Known tasks: anli, mnli, qqp, squad_v1"):
        TrainConfig.from_dict({"tasks": ["nope"]})


def test_fp16_needs_a_gpu(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(XitConfigError, match="precision='fp16' needs a GPU"):
        TrainConfig.from_dict({"precision": "fp16"})


def test_missing_task_data_fails_before_the_model_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("XIT_DATA_DIR", str(tmp_path / "nowhere"))
    config = TrainConfig.from_dict({"tasks": ["squad_v1"], "max_steps": 1, "model": str(tmp_path / "no-model")})
    with pytest.raises(DataNotFoundError) as err:
        train(config, tmp_path / "out")
    text = str(err.value)
    assert "task 'squad_v1'" in text and str(tmp_path / "nowhere") in text and "XIT_DATA_DIR" in text
    assert not (tmp_path / "out").exists()


def test_online_only_task_fails_offline_naming_the_hub(tmp_path):
    config = TrainConfig.from_dict({"tasks": ["mnli"], "max_steps": 1, "data_source": "local"})
    with pytest.raises(DataNotFoundError, match="task 'mnli' has no offline data"):
        train(config, tmp_path / "out")


# ------------------------------------------------------------------ determinism and resume

def _tiny_config(model: str, **extra) -> TrainConfig:
    """Two tasks, 6 steps, CI-sized: short sequences, frozen word embeddings, tiny caps."""
    return TrainConfig.from_dict({
        "model": model, "tasks": ["rte", "ud_pos"], "max_steps": 6, "batch_size": 4, "max_length": 48,
        "learning_rate": 5e-5, "freeze_word_embeddings": True, "max_train_examples": 24, "max_dev_examples": 8,
        "eval_batch_size": 16, "sampler": {"name": "uniform"}, "seed": 7, "progress": False, **extra,
    })


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, e5_small, e5_small_path):
    """One uninterrupted run that the determinism and resume tests compare against."""
    out = tmp_path_factory.mktemp("reference")
    return train(_tiny_config(str(e5_small_path)), out, encoder=e5_small)


def test_same_seed_same_loss_trajectory(reference_run, e5_small, e5_small_path, tmp_path):
    again = train(_tiny_config(str(e5_small_path), save_model=False), tmp_path / "again", encoder=e5_small)
    assert list(again.train_log["task"]) == list(reference_run.train_log["task"])
    np.testing.assert_array_equal(again.train_log["loss"].to_numpy(), reference_run.train_log["loss"].to_numpy())
    assert np.isfinite(reference_run.train_log["loss"]).all()
    assert list(reference_run.train_log.columns) == ["step", "task", "loss", "lr", "examples_per_s"]
    assert set(reference_run.task_mix["task"]) == {"rte", "ud_pos"}


def test_different_seed_different_trajectory(reference_run, e5_small, e5_small_path, tmp_path):
    other = train(_tiny_config(str(e5_small_path), seed=8, save_model=False, max_steps=2), tmp_path / "other", encoder=e5_small)
    assert not np.array_equal(other.train_log["loss"].to_numpy(), reference_run.train_log["loss"].to_numpy()[:2])


def test_killed_run_resumes_and_ends_like_an_uninterrupted_one(reference_run, e5_small, e5_small_path, tmp_path):
    out = tmp_path / "killed"
    config = _tiny_config(str(e5_small_path), checkpoint_every=2)
    # The killed half must run with this process's thread count: another count changes the order
    # of float reductions, and the resumed trajectory would differ in the last bits.
    threads = torch.get_num_threads()
    script = textwrap.dedent(f"""
        import json
        import torch
        torch.set_num_threads({threads})
        from xit.training import TrainConfig, train
        train(TrainConfig.from_dict(json.loads({json.dumps(dataclasses.asdict(config))!r})), {str(out)!r})
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not list((out / "checkpoints").glob("step-*/xit_state.json")):
            assert proc.poll() is None, f"training subprocess ended before its first checkpoint: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not (out / "train_summary.json").exists(), "the run finished before it was killed"
    resumed = train(config, out, encoder=e5_small)
    assert resumed.resumed_from in (2, 4)
    np.testing.assert_array_equal(resumed.train_log["loss"].to_numpy(), reference_run.train_log["loss"].to_numpy())
    assert list(resumed.train_log["step"]) == list(range(1, 7))
    # Frozen word embeddings: the encoder is saved as a delta holding every tensor training can change.
    a, b = load_file(resumed.encoder_dir / "xit_delta.safetensors"), load_file(reference_run.encoder_dir / "xit_delta.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert not (out / "checkpoints").exists()  # cleaned up once the run finished
    # A finished run is returned as is; a different configuration in the same folder is refused.
    assert train(config, out, encoder=e5_small).train_log.equals(resumed.train_log)
    with pytest.raises(XitConfigError, match="holds a finished run of a different configuration"):
        train(_tiny_config(str(e5_small_path), seed=1), out, encoder=e5_small)


def test_saved_encoder_loads_with_load_encoder_and_keeps_metadata(reference_run, e5_small_path):
    from xit.encoders import load_encoder

    enc = load_encoder(str(reference_run.encoder_dir))
    assert enc.num_layers == 12 and enc.passage_prefix == "passage: "
    assert (reference_run.encoder_dir / "xit_encoder.json").read_text() == (Path(e5_small_path) / "xit_encoder.json").read_text()
    training = json.loads((reference_run.encoder_dir / "xit_training.json").read_text())
    assert training["tasks"] == ["rte", "ud_pos"] and training["steps"] == 6
    from xit.training import load_heads

    heads = load_heads(reference_run.heads_path)
    assert set(heads) == {"rte", "ud_pos"} and heads["ud_pos"].out.out_features == 17
