"""Continued-MLM control (xit.mlm) on the converted e5-small and the offline data.

The corpus must never contain an evaluation sentence; the head must be the one BertForMaskedLM puts
on the encoder (tied, same init); the masked-token loss must fall; masks must follow the seed.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from xit.errors import DataNotFoundError, XitConfigError
from xit.mlm import MLMCorpusSpec, MLMHeadType, MLMTaskSpec, build_mlm_head, head_state_dict, load_head_state, load_mlm_corpus
from xit.retrieval.data import XTREMER41, load_bucc, load_tatoeba, load_xquad_r
from xit.tasks.heads import IGNORE_INDEX
from xit.tasks.readers import normalise_space

# Measured with `pytest tests/test_mlm.py` (see docs/training.md, "Continued MLM (control)").
CORPUS_RANGE = (41_000, 43_000)            # default: unevaluated languages, translations of evaluated English dropped
CORPUS_RANGE_WITH_TRANSLATIONS = (51_500, 52_500)
#: The loss test's recipe (frozen word embeddings): 2.7x fewer sequences than 40 steps x 16, for CPU time.
STEPS, BATCH, LR = 30, 8, 2e-4
LOSS_DROP = 0.3                            # nats: train loss, mean of the last 10 steps below the first 10
DEV_NLL_DROP = 2.0                         # nats: held-out masked-token nll (fixed masks) before vs after
SPEC = MLMTaskSpec()


@pytest.fixture(scope="module")
def corpus(data_dir):
    return load_mlm_corpus(data_dir)


@pytest.fixture(scope="module")
def evaluation_texts(data_dir):
    """Every sentence of every offline target, read with the retrieval loaders (not the corpus's own reader)."""
    texts = set()
    for code in XTREMER41:
        pair = load_tatoeba(code, data_dir)
        texts.update(pair.src + pair.eng)
    bucc = load_bucc("zh", "dev", data_dir)
    texts.update(bucc.src + bucc.en)
    lareqa = load_xquad_r("all", data_dir)
    texts.update(lareqa.questions + lareqa.candidate_sentences + lareqa.candidate_contexts)
    return {normalise_space(t) for t in texts}


def test_corpus_shares_no_sentence_with_any_evaluation_target(corpus, evaluation_texts):
    assert len(evaluation_texts) > 80_000  # 41 Tatoeba pairs, BUCC zh-en sample, XQuAD-R in 11 languages
    assert not set(corpus.sentences) & evaluation_texts
    assert CORPUS_RANGE[0] <= len(corpus.sentences) <= CORPUS_RANGE[1]
    assert len(set(corpus.sentences)) == len(corpus.sentences)
    languages = set(corpus.languages)
    assert not languages & set(XTREMER41) and "eng" not in languages
    assert len(languages) == 71


def test_corpus_holds_no_translation_of_an_evaluated_english_sentence(corpus, data_dir):
    evaluated_english = {normalise_space(e) for code in XTREMER41 for e in load_tatoeba(code, data_dir).eng}
    english_of = {}
    for code in set(corpus.languages):
        pair = load_tatoeba(code, data_dir)
        english_of.update({(code, normalise_space(s)): normalise_space(e) for s, e in zip(pair.src, pair.eng)})
    pivots = [english_of[(lang, s)] for lang, s in zip(corpus.languages, corpus.sentences)]
    assert not set(pivots) & evaluated_english
    assert corpus.dropped["eval_translation"] > 9_000


def test_corpus_with_translations_is_larger_and_still_free_of_targets(data_dir, evaluation_texts):
    wide = load_mlm_corpus(data_dir, spec={"drop_eval_translations": False})
    assert CORPUS_RANGE_WITH_TRANSLATIONS[0] <= len(wide.sentences) <= CORPUS_RANGE_WITH_TRANSLATIONS[1]
    assert not set(wide.sentences) & evaluation_texts


def test_corpus_order_follows_the_seed(data_dir, corpus):
    again = load_mlm_corpus(data_dir, seed=0)
    other = load_mlm_corpus(data_dir, seed=1)
    capped = load_mlm_corpus(data_dir, max_sentences=500, seed=0)
    assert again.sentences == corpus.sentences
    assert other.sentences != corpus.sentences and sorted(other.sentences) == sorted(corpus.sentences)
    assert capped.sentences == corpus.sentences[:500]
    assert len(set(capped.languages)) > 40  # the shuffle mixes languages into any prefix
    train, dev = capped.split(100)
    assert (len(train), len(dev)) == (400, 100) and dev == capped.sentences[400:]


def test_explicit_languages_read_only_those(data_dir):
    small = load_mlm_corpus(data_dir, languages=["nob", "cat"])
    assert set(small.languages) == {"cat", "nob"}
    assert 1_000 < len(small.sentences) < 2_000


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"source": "wiki"}, "mlm_corpus.source='wiki' is not valid"),
        ({"languages": ["nob", "deu"]}, "lists deu, which the retrieval suite evaluates"),
        ({"languages": ["eng"]}, "lists eng"),
        ({"languages": "all"}, "mlm_corpus.languages='all' is not a language set"),
        ({"max_sentences": 0}, "mlm_corpus.max_sentences=0 must be a positive integer"),
        ({"source": "hub"}, "mlm_corpus.hub_id=None: source 'hub' needs a non-empty hub_id"),
        ({"hub_id": "wikimedia/wikipedia"}, "set source: hub"),
        ({"langauges": ["nob"]}, "mlm_corpus.langauges is not a corpus field. Did you mean 'languages'?"),
    ],
)
def test_bad_corpus_spec_names_the_value(spec, message):
    with pytest.raises(XitConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MLMCorpusSpec.from_dict(spec)


def test_missing_language_file_names_the_folder(data_dir):
    with pytest.raises(DataNotFoundError, match="Tatoeba files for xyz not found"):
        load_mlm_corpus(data_dir, languages=["xyz"])


def test_hub_source_offline_fails_naming_the_fix(data_dir):
    spec = {"source": "hub", "hub_id": "wikimedia/wikipedia", "hub_config": "20231101.sw", "max_sentences": 100}
    with pytest.raises(DataNotFoundError, match=r"wikimedia/wikipedia \(20231101.sw\).*use source: tatoeba"):
        load_mlm_corpus(data_dir, spec=spec)


def test_hub_source_reads_a_dataset_folder_and_filters_it(data_dir, tmp_path):
    evaluated = load_tatoeba("deu", data_dir).src[3]
    rows = [{"text": "Ein ganz neuer Satz."}, {"text": evaluated}, {"text": "Ein  ganz neuer Satz. "}, {"text": "Dua kalimat."}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for cap in (None, 10):  # streamed when capped
        got = load_mlm_corpus(data_dir, spec={"source": "hub", "hub_id": str(tmp_path), "max_sentences": cap})
        assert sorted(got.sentences) == ["Dua kalimat.", "Ein ganz neuer Satz."]
        assert (got.dropped["eval_overlap"], got.dropped["duplicate"]) == (1, 1)


# --------------------------------------------------------------------------- head

def test_head_is_bert_for_masked_lm_s_head_tied_to_the_embeddings(e5_small, e5_small_path):
    from transformers import BertForMaskedLM
    from transformers.models.bert.modeling_bert import BertOnlyMLMHead

    model = e5_small.model
    embeddings = model.get_input_embeddings().weight
    before = embeddings.detach().clone()
    rng = torch.random.get_rng_state()
    head = build_mlm_head(model, seed=0)
    assert torch.equal(torch.random.get_rng_state(), rng)  # a seeded build leaves the global RNG alone
    assert torch.equal(embeddings, before)  # the tie re-initialised nothing
    lm = head.predictions
    assert isinstance(head, BertOnlyMLMHead)
    assert lm.decoder.weight is embeddings and lm.decoder.bias is lm.bias
    assert torch.count_nonzero(lm.bias) == 0 and torch.count_nonzero(lm.transform.dense.bias) == 0
    assert torch.equal(lm.transform.LayerNorm.weight, torch.ones(384)) and torch.count_nonzero(lm.transform.LayerNorm.bias) == 0
    assert lm.transform.dense.weight.std().item() == pytest.approx(model.config.initializer_range, rel=0.02)
    assert torch.equal(build_mlm_head(model, seed=0).predictions.transform.dense.weight, lm.transform.dense.weight)

    reference = BertForMaskedLM.from_pretrained(str(e5_small_path)).eval()
    ref = reference.cls.predictions
    assert ref.decoder.weight is reference.bert.get_input_embeddings().weight and ref.decoder.bias is ref.bias
    assert {k: v.shape for k, v in head.state_dict().items()} == {k: v.shape for k, v in reference.cls.state_dict().items()}
    assert torch.count_nonzero(ref.bias) == 0 and torch.equal(ref.transform.LayerNorm.weight, torch.ones(384))
    assert ref.transform.dense.weight.std().item() == pytest.approx(lm.transform.dense.weight.std().item(), rel=0.02)
    # With BertForMaskedLM's transform weights copied in, our head computes its logits exactly.
    head.load_state_dict(head_state_dict(reference.cls), strict=False)
    inputs = e5_small.tokenizer(["Det regner i dag.", "Ploras hodiaŭ."], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**inputs).last_hidden_state
        assert torch.allclose(head(hidden), reference(**inputs).logits, atol=1e-4)
    rebuilt = load_head_state(model, head_state_dict(head))
    assert rebuilt.predictions.decoder.weight is embeddings
    assert torch.equal(rebuilt.predictions.transform.dense.weight, ref.transform.dense.weight)


def test_xlm_roberta_gets_its_lm_head_and_unknown_types_fail():
    from transformers import GPT2Config, GPT2Model, XLMRobertaConfig, XLMRobertaModel
    from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLMHead

    config = XLMRobertaConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    model = XLMRobertaModel(config, add_pooling_layer=False)
    head = build_mlm_head(model, seed=0)
    assert isinstance(head, XLMRobertaLMHead)
    assert head.decoder.weight is model.get_input_embeddings().weight and head.decoder.bias is head.bias
    assert torch.count_nonzero(head.bias) == 0 and torch.equal(head.layer_norm.weight, torch.ones(32))
    with pytest.raises(XitConfigError, match="no MLM head for model type 'gpt2'"):
        build_mlm_head(GPT2Model(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=300)))


# --------------------------------------------------------------------------- masking and training

@pytest.fixture(scope="module")
def mlm_features(corpus, e5_small):
    head_type = MLMHeadType(e5_small.model, seed=0)
    return head_type.featurize(SPEC, corpus.sentences[:2_000], e5_small.tokenizer, 48)


def test_masks_follow_the_seed(e5_small, mlm_features):
    tok = e5_small.tokenizer
    first, again, other = (MLMHeadType(e5_small.model, seed=s).collate(mlm_features[:16], tok) for s in (0, 0, 1))
    assert torch.equal(first["input_ids"], again["input_ids"]) and torch.equal(first["labels"], again["labels"])
    assert not torch.equal(first["labels"], other["labels"])
    masked = first["labels"] != IGNORE_INDEX
    originals = tok.pad([{"input_ids": f["input_ids"]} for f in mlm_features[:16]], return_tensors="pt")["input_ids"]
    assert not torch.isin(originals[masked], torch.tensor(tok.all_special_ids)).any()  # never CLS/SEP/padding
    assert torch.equal(first["labels"][masked], originals[masked])
    share = masked.sum().item() / (originals != tok.pad_token_id).sum().item()
    assert 0.05 < share < 0.25  # 15 % of the non-special tokens


def test_dynamic_masking_resumes_from_the_rng_state(e5_small, mlm_features):
    tok = e5_small.tokenizer
    head_type = MLMHeadType(e5_small.model, seed=0)
    head_type.collate(mlm_features[:16], tok)
    state = head_type.rng_state()
    second = head_type.collate(mlm_features[:16], tok)
    assert not torch.equal(second["labels"], MLMHeadType(e5_small.model, seed=0).collate(mlm_features[:16], tok)["labels"])
    resumed = MLMHeadType(e5_small.model, seed=0)
    resumed.set_rng_state(tok, state)
    assert torch.equal(resumed.collate(mlm_features[:16], tok)["labels"], second["labels"])
    fixed = head_type.mask_once(mlm_features[:8], tok, seed=5)
    assert fixed == head_type.mask_once(mlm_features[:8], tok, seed=5)
    batch = head_type.collate(fixed, tok)
    assert torch.equal(batch["labels"][0, : len(fixed[0]["labels"])], torch.tensor(fixed[0]["labels"]))


def _dev_metrics(head_type, model, head, features, tokenizer):
    with torch.no_grad():
        batch = head_type.collate(features, tokenizer)
        outputs = head_type.feature_outputs(head_type.logits(model, head, batch, ["input_ids", "attention_mask"]), batch)
    return head_type.metrics(head_type.decode(SPEC, features, features, outputs))


def test_masked_token_loss_falls(e5_small, mlm_features):
    """STEPS AdamW steps (batch BATCH, max_length 48, lr LR, frozen word embeddings, as the CPU grids train)."""
    torch.set_num_threads(2)
    torch.manual_seed(0)
    tok = e5_small.tokenizer
    model = copy.deepcopy(e5_small.model).train()
    embeddings = model.get_input_embeddings().weight
    embeddings.requires_grad_(False)  # TrainConfig.freeze_word_embeddings: the tied decoder weight is frozen with it
    head_type = MLMHeadType(model, seed=0)
    head = head_type.build(SPEC, model.config.hidden_size)
    frozen_before = embeddings.detach().clone()
    dev = head_type.mask_once(mlm_features[-48:], tok, seed=1)
    model.eval()
    dev_before = _dev_metrics(head_type, model, head, dev, tok)
    model.train()
    params = list({id(p): p for p in [*model.parameters(), *head.parameters()] if p.requires_grad}.values())
    optimizer = torch.optim.AdamW(params, lr=LR)
    losses = []
    for step in range(STEPS):
        batch = head_type.collate(mlm_features[step * BATCH : (step + 1) * BATCH], tok)
        loss = head_type.loss(head_type.logits(model, head, batch, ["input_ids", "attention_mask"]), batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    dev_after = _dev_metrics(head_type, model, head, dev, tok)
    print(f"MLM losses {[round(x, 2) for x in losses]}\nMLM loss steps 1-10 {np.mean(losses[:10]):.3f}, last 10 {np.mean(losses[-10:]):.3f}; "
          f"held-out nll {dev_before['nll']:.3f} -> {dev_after['nll']:.3f}, accuracy {dev_before['accuracy']:.1f} -> {dev_after['accuracy']:.1f}")
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - LOSS_DROP
    assert dev_after["nll"] < dev_before["nll"] - DEV_NLL_DROP
    assert torch.equal(embeddings, frozen_before) and head.predictions.decoder.weight is embeddings
    assert torch.count_nonzero(head.predictions.bias) > 0  # the output bias trains
