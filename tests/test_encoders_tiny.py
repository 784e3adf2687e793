"""The tiny random XLM-R: XLM-R's shape (24 layers, 250002 pieces) at toy width, loadable like any encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from xit.encoders import encode_texts, load_encoder, resolve_layers
from xit.encoders.tiny import XLMR_VOCAB_SIZE, build_tiny_xlmr
from xit.errors import XitConfigError

TEXTS = ["Der Hund schläft.", "Le chien dort.", "狗在睡觉。"]


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    """Two builds with the same seed and one with another seed."""
    root = tmp_path_factory.mktemp("tiny-xlmr")
    return build_tiny_xlmr(root / "a"), build_tiny_xlmr(root / "b"), build_tiny_xlmr(root / "c", seed=1)


def test_tiny_xlmr_loads_with_the_paper_shape(tiny_dirs):
    enc = load_encoder(str(tiny_dirs[0]), device="cpu")
    config = json.loads((tiny_dirs[0] / "config.json").read_text())
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == ("xlm-roberta", 24, 32, 250002)
    assert type(enc.model).__name__ == "XLMRobertaModel" and enc.num_layers == 24
    assert (enc.query_prefix, enc.passage_prefix) == ("", "")
    assert len(enc.tokenizer) == XLMR_VOCAB_SIZE
    assert resolve_layers(enc, [14]) == [14] and resolve_layers(enc, [-1]) == [24]
    embs = encode_texts(enc, TEXTS, layers="all", progress=False)
    assert sorted(embs) == list(range(25))
    assert all(e.shape == (3, 32) and e.dtype == np.float32 for e in embs.values())
    np.testing.assert_allclose(np.linalg.norm(embs[14], axis=1), 1.0, atol=1e-5)
    assert not np.allclose(embs[14], embs[24])  # layers are distinct, not a degenerate copy


def test_tiny_xlmr_is_deterministic_per_seed(tiny_dirs):
    first, second, other = (load_file(str(d / "model.safetensors")) for d in tiny_dirs)
    assert sorted(first) == sorted(second)
    assert all(np.array_equal(first[name], second[name]) for name in first)
    name = next(n for n in first if "word_embeddings" in n)
    assert first[name].shape == (XLMR_VOCAB_SIZE, 32)
    assert not np.array_equal(first[name], other[name])
    a, b = (encode_texts(load_encoder(str(d), device="cpu"), TEXTS, layers=[14], progress=False)[14] for d in tiny_dirs[:2])
    np.testing.assert_array_equal(a, b)


def test_tiny_xlmr_rejects_bad_sizes(tmp_path):
    with pytest.raises(XitConfigError, match="hidden_size=30 must be a multiple of num_heads=4"):
        build_tiny_xlmr(tmp_path, hidden_size=30, num_heads=4)
    assert not any(tmp_path.iterdir())  # raised before writing anything
