"""Controls: shuffled labels on real task data, and L2-SP's pull toward the start weights."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from xit.encoders.delta import DELTA_WEIGHTS
from xit.errors import XitConfigError
from xit.tasks import get_task, load_task_split
from xit.tasks.controls import destroy_labels
from xit.training import TrainConfig, train
from xit.training.data import load_task_data


def _load(name: str, n: int = 400):
    spec = get_task(name)
    return spec, load_task_split(spec, "train", max_examples=n, source="local")


def _chance(labels) -> float:
    """Expected agreement of a random permutation of ``labels`` with themselves: Σ p_c²."""
    counts = np.array(list(Counter(labels).values()), dtype=float)
    return float(((counts / counts.sum()) ** 2).sum())


@pytest.mark.parametrize("name", ["rte", "hellaswag", "stsb"])
def test_permuted_labels_keep_the_multiset_and_agree_at_chance(name, data_dir):
    spec, examples = _load(name)
    shuffled = destroy_labels(spec, examples, seed=0)
    before, after = list(examples["label"]), list(shuffled["label"])
    assert sorted(before) == sorted(after)
    agreement = float(np.mean([a == b for a, b in zip(before, after)]))
    assert abs(agreement - _chance(before)) < 0.08, (agreement, _chance(before))
    # Inputs untouched: only the label column changes.
    for column in examples.column_names:
        if column != "label":
            assert shuffled[column] == examples[column]
    assert shuffled.features == examples.features


@pytest.mark.parametrize("name", ["ccg", "ud_pos"])
def test_dealt_tags_keep_lengths_and_marginal_but_not_token_tags(name, data_dir):
    spec, examples = _load(name)
    shuffled = destroy_labels(spec, examples, seed=0)
    before, after = list(examples["tags"]), list(shuffled["tags"])
    assert [len(t) for t in before] == [len(t) for t in after]
    flat_before = [t for seq in before for t in seq]
    flat_after = [t for seq in after for t in seq]
    assert Counter(flat_before) == Counter(flat_after)
    agreement = float(np.mean([a == b for a, b in zip(flat_before, flat_after)]))
    assert abs(agreement - _chance(flat_before)) < 0.03, (agreement, _chance(flat_before))
    assert list(shuffled["tokens"]) == list(examples["tokens"])


def test_moved_answers_are_valid_spans_of_the_same_word_length(data_dir):
    spec, examples = _load("squad_v1", 300)
    shuffled = destroy_labels(spec, examples, seed=0)
    moved = 0
    for old, new in zip(examples, shuffled):
        assert (new["id"], new["question"], new["context"]) == (old["id"], old["question"], old["context"])
        text, start = new["answers"]["text"][0], new["answers"]["answer_start"][0]
        assert new["context"][start : start + len(text)] == text
        assert len(text.split()) == min(len(old["answers"]["text"][0].split()), len(old["context"].split()))
        moved += start != old["answers"]["answer_start"][0]
    assert moved / len(examples) > 0.9


def test_unanswerable_questions_stay_unanswerable(data_dir):
    spec, examples = _load("squad_v2", 400)
    shuffled = destroy_labels(spec, examples, seed=0)
    empty = [not ex["answers"]["text"] for ex in examples]
    assert 0 < sum(empty) < len(empty)  # the sample holds both kinds
    assert [not ex["answers"]["text"] for ex in shuffled] == empty
    for ex in shuffled:
        for text, start in zip(ex["answers"]["text"], ex["answers"]["answer_start"]):
            assert ex["context"][start : start + len(text)] == text


def test_destruction_is_seeded(data_dir):
    spec, examples = _load("ud_pos", 200)
    a, b = destroy_labels(spec, examples, seed=3), destroy_labels(spec, examples, seed=3)
    assert a["tags"] == b["tags"]
    assert destroy_labels(spec, examples, seed=4)["tags"] != a["tags"]


def _config(tasks: list[str], **extra) -> TrainConfig:
    return TrainConfig.from_dict({"tasks": tasks, "max_train_examples": 80, "max_dev_examples": 40, "max_steps": 1,
                                  "data_source": "local", "label_control": "shuffled", "seed": 5, **extra})


def test_a_tasks_shuffled_labels_do_not_depend_on_the_other_tasks(data_dir):
    alone = load_task_data(_config(["rte"]))["rte"]
    first = load_task_data(_config(["rte", "ud_pos"]))["rte"]
    second = load_task_data(_config(["hellaswag", "ud_pos", "rte"]))["rte"]
    assert alone.train_examples["label"] == first.train_examples["label"] == second.train_examples["label"]
    intact = load_task_data(_config(["rte"], label_control="none"))["rte"]
    assert alone.train_examples["label"] != intact.train_examples["label"]
    assert sorted(alone.train_examples["label"]) == sorted(intact.train_examples["label"])
    # Dev stays intact, so the control's dev metrics show chance.
    assert alone.dev_examples["label"] == intact.dev_examples["label"]


@pytest.mark.parametrize("bad, message", [
    ({"label_control": "permuted"}, "train.label_control='permuted' is not valid"),
    ({"l2sp": -1.0}, "train.l2sp=-1.0 must be >= 0"),
    ({"l2sp": "big"}, "train.l2sp='big' must be >= 0"),
])
def test_bad_control_fields_fail_with_message(bad, message):
    with pytest.raises(XitConfigError) as err:
        TrainConfig.from_dict({"tasks": ["rte"], **bad})
    assert message in str(err.value)


def test_fingerprint_hashes_result_fields_and_results_version_and_each_control_changes_it():
    import xit
    from xit.training.config import NON_RESULT_FIELDS

    config = TrainConfig.from_dict({"tasks": ["rte"]})
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in NON_RESULT_FIELDS}
    fields["results_version"] = xit.RESULTS_VERSION
    assert {"label_control", "l2sp", "objective"} <= set(fields)
    assert config.fingerprint() == hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]
    # Progress bars and checkpoint cadence do not change numbers, so they do not change the fingerprint.
    assert TrainConfig.from_dict({"tasks": ["rte"], "progress": False}).fingerprint() == config.fingerprint()
    assert TrainConfig.from_dict({"tasks": ["rte"], "l2sp": 0.1}).fingerprint() != config.fingerprint()
    assert TrainConfig.from_dict({"tasks": ["rte"], "label_control": "shuffled"}).fingerprint() != config.fingerprint()


# ------------------------------------------------------------------ L2-SP

def _relative_distance(encoder_dir, base_dir) -> float:
    """‖θ − θ₀‖ / ‖θ₀‖ over the weights that training moves (word embeddings frozen here)."""
    # Trained encoders with frozen word embeddings are saved as a delta (xit.encoders.delta).
    a, b = load_file(encoder_dir / DELTA_WEIGHTS), load_file(base_dir / "model.safetensors")
    keys = [k for k in a if "word_embeddings" not in k]
    moved = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in keys)
    norm = sum(float(b[k].double().pow(2).sum()) for k in keys)
    return (moved / norm) ** 0.5


@pytest.fixture(scope="module")
def l2sp_runs(tmp_path_factory, e5_small, e5_small_path):
    """The tiny rte run without and with a strong L2-SP pull (same seed, data and steps)."""
    runs = {}
    for coefficient in (0.0, 1.0):
        config = TrainConfig.from_dict({
            "model": str(e5_small_path), "tasks": ["rte"], "max_steps": 6, "batch_size": 8, "max_length": 48,
            "learning_rate": 1e-4, "warmup_ratio": 0.0, "freeze_word_embeddings": True, "max_train_examples": 64,
            "max_dev_examples": 8, "eval_batch_size": 16, "seed": 3, "progress": False, "l2sp": coefficient,
        })
        runs[coefficient] = train(config, tmp_path_factory.mktemp(f"l2sp-{coefficient}"), encoder=e5_small)
    return runs


def test_l2sp_keeps_the_encoder_closer_to_its_start(l2sp_runs, e5_small_path):
    free = _relative_distance(l2sp_runs[0.0].encoder_dir, e5_small_path)
    pulled = _relative_distance(l2sp_runs[1.0].encoder_dir, e5_small_path)
    assert free > 0 and pulled > 0
    assert pulled / free < 0.5, (pulled, free)


def test_l2sp_logs_the_squared_distance_and_only_when_on(l2sp_runs):
    log = l2sp_runs[1.0].train_log
    assert "l2sp_distance" not in l2sp_runs[0.0].train_log.columns
    distance = log["l2sp_distance"].to_numpy()
    assert distance[0] == 0.0 and (distance[1:] > 0).all()
    # The logged loss is the task loss alone: the first step (θ = θ₀) matches the free run exactly.
    assert log["loss"].iloc[0] == pytest.approx(l2sp_runs[0.0].train_log["loss"].iloc[0], abs=1e-6)
    assert torch.isfinite(torch.tensor(log["loss"].to_numpy())).all()
