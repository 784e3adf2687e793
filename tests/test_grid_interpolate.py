"""Interpolation runs: θ(α) = (1 − α)·θ₀ + α·θ reproduces the start model at α = 0 and the trained one at α = 1."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from xit.encoders import encode_texts, load_encoder
from xit.encoders.interpolate import META_FILE, interpolate_encoder
from xit.errors import XitConfigError

SENTENCES = ["The cat sleeps on the mat.", "Der Hund spielt im Garten.", "今日はいい天気です。", "Où est la gare ?"]


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, e5_small_path):
    """A stand-in 'trained' encoder: e5-small with every floating weight moved by seeded noise."""
    out = tmp_path_factory.mktemp("trained") / "encoder"
    enc = load_encoder(str(e5_small_path), device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in enc.model.parameters():
            param.add_(0.02 * torch.randn(param.shape, generator=generator))
    shutil.copytree(e5_small_path, out, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    enc.model.save_pretrained(out)
    return out


def embed(path) -> np.ndarray:
    enc = load_encoder(str(path), device="cpu")
    return encode_texts(enc, SENTENCES, layers=[-1], prefix=enc.passage_prefix, progress=False)[enc.num_layers]


def test_interpolation_endpoints_are_the_two_models(tmp_path, e5_small_path, trained_dir):
    base, trained = embed(e5_small_path), embed(trained_dir)
    assert np.abs(base - trained).max() > 1e-2  # the two models really differ
    at0 = interpolate_encoder(str(e5_small_path), trained_dir, 0.0, tmp_path / "a0")
    at1 = interpolate_encoder(str(e5_small_path), trained_dir, 1.0, tmp_path / "a1")
    half = interpolate_encoder(str(e5_small_path), trained_dir, 0.5, tmp_path / "a05")
    np.testing.assert_allclose(embed(at0), base, atol=1e-6, rtol=0)
    np.testing.assert_allclose(embed(at1), trained, atol=1e-6, rtol=0)
    middle = embed(half)
    assert np.abs(middle - base).max() > 1e-3 and np.abs(middle - trained).max() > 1e-3
    # Weights: exactly the convex combination; the tokenizer, prefixes and a record of how it was made come along.
    w0, w1, wh = (load_encoder(str(p), device="cpu").model.state_dict() for p in (e5_small_path, trained_dir, half))
    key = "encoder.layer.0.attention.self.query.weight"
    torch.testing.assert_close(wh[key], 0.5 * w0[key] + 0.5 * w1[key], rtol=0, atol=1e-7)
    assert load_encoder(str(half), device="cpu").passage_prefix == "passage: "
    assert json.loads((half / META_FILE).read_text())["alpha"] == 0.5


def test_mismatched_encoders_and_bad_alpha_are_refused(tmp_path, e5_small_path, trained_dir):
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(e5_small_path)
    config.num_hidden_layers = 2
    other = tmp_path / "two-layers"
    shutil.copytree(e5_small_path, other, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "config.json"))
    AutoModel.from_config(config).save_pretrained(other)
    with pytest.raises(XitConfigError, match=r"config.num_hidden_layers differs \(12 vs 2\)"):
        interpolate_encoder(str(e5_small_path), other, 0.5, tmp_path / "out")
    with pytest.raises(XitConfigError, match=r"alpha=1.5 must be a number in \[0, 1\]"):
        interpolate_encoder(str(e5_small_path), trained_dir, 1.5, tmp_path / "out")
    with pytest.raises(XitConfigError, match="is not a model folder"):
        interpolate_encoder(str(e5_small_path), tmp_path / "missing", 0.5, tmp_path / "out")
    assert not (tmp_path / "out").exists()
