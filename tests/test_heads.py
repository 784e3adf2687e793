"""Heads on hand-built cases: featurizers, collators, losses and prediction decoding with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xit.errors import XitConfigError
from xit.tasks import get_task, load_task_split
from xit.tasks.heads import IGNORE_INDEX, SpanSettings, get_head_type
from xit.tasks.metrics import compute_metrics, normalize_answer


@pytest.fixture(scope="module")
def tokenizer(e5_small_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(e5_small_path))


CONTEXT = ("The cat sat on the mat. " * 8) + "Paris is the capital of France. " + ("Dogs bark at night. " * 8)
SPAN_EXAMPLES = [
    {"id": "q1", "question": "What is the capital of France?", "context": CONTEXT,
     "answers": {"text": ["Paris"], "answer_start": [CONTEXT.index("Paris")]}},
    {"id": "q2", "question": "Who wrote it?", "context": "Nobody knows.", "answers": {"text": [], "answer_start": []}},
]


def _peaked_outputs(features, at):
    """Hand-made logits: zero everywhere, a peak at (start, end) chosen per feature by ``at``."""
    outs = []
    for f in features:
        out = np.zeros((len(f["input_ids"]), 2), dtype=np.float32)
        start, end = at(f)
        out[start, 0] = out[end, 1] = 5.0
        outs.append(out)
    return outs


def test_span_windows_carry_the_gold_answer(tokenizer):
    head = get_head_type("span", SpanSettings(doc_stride=16))
    feats = head.featurize(get_task("squad_v2"), SPAN_EXAMPLES, tokenizer, max_length=64)
    assert max(len(f["input_ids"]) for f in feats) == 64
    first = [f for f in feats if f["example_index"] == 0]
    assert len(first) > 2  # long context -> several overlapping windows
    inside = [f for f in first if f["start_positions"] != f["cls_index"]]
    assert inside, "some window must contain the answer"
    for f in inside:
        text = tokenizer.decode(f["input_ids"][f["start_positions"] : f["end_positions"] + 1]).strip()
        assert text == "Paris"
    no_answer = [f for f in feats if f["example_index"] == 1]
    assert [(f["start_positions"], f["end_positions"]) for f in no_answer] == [(0, 0)]


def test_span_decoding_picks_the_peak_and_handles_no_answer(tokenizer):
    head = get_head_type("span")
    spec_v2, spec_v1 = get_task("squad_v2"), get_task("squad_v1")
    feats = head.featurize(spec_v2, SPAN_EXAMPLES, tokenizer, max_length=64)
    gold = _peaked_outputs(feats, lambda f: (f["start_positions"], f["end_positions"]))
    decoded = head.decode(spec_v2, SPAN_EXAMPLES, feats, gold)
    assert decoded.predictions == ["Paris", ""]
    assert compute_metrics(spec_v2, decoded.predictions, decoded.references)["exact_match"] == 100.0
    # A span scoring below the CLS (null) score: v2 answers "", v1 must still answer with a span.
    for out, f in zip(gold, feats):
        out[f["cls_index"]] = 9.0
    assert head.decode(spec_v2, SPAN_EXAMPLES, feats, gold).predictions == ["", ""]
    assert head.decode(spec_v1, SPAN_EXAMPLES[:1], feats[: sum(f["example_index"] == 0 for f in feats)],
                       gold[: sum(f["example_index"] == 0 for f in feats)]).predictions == ["Paris"]


def test_span_decoding_rejects_end_before_start_and_question_tokens(tokenizer):
    head = get_head_type("span")
    ex = [{"id": "q", "question": "Which city?", "context": "Rome and Paris are cities.",
           "answers": {"text": ["Paris"], "answer_start": [9]}}]
    (f,) = head.featurize(get_task("squad_v1"), ex, tokenizer, max_length=64)
    ctx = [p for p, o in enumerate(f["offsets"]) if o is not None]
    out = np.full((len(f["input_ids"]), 2), -20.0, dtype=np.float32)
    out[1, :] = 50.0  # the best logits sit on a question token: not a context position
    out[ctx[-1], 0] = 20.0  # best context start is the last token ...
    out[ctx[0], 1] = 20.0  # ... and best context end the first: end before start, an invalid pair
    out[f["start_positions"], 0] = out[f["end_positions"], 1] = 4.0
    assert head.decode(get_task("squad_v1"), ex, [f], [out]).predictions == ["Paris"]


def test_span_on_real_squad_positions_match_answers(tokenizer):
    spec = get_task("squad_v1")
    examples = load_task_split(spec, "dev", max_examples=20)
    head = get_head_type("span", SpanSettings(doc_stride=32))
    feats = head.featurize(spec, examples, tokenizer, max_length=96)
    checked = 0
    for f in feats:
        if f["start_positions"] == f["cls_index"]:
            continue
        ex = examples[f["example_index"]]
        text = ex["context"][f["offsets"][f["start_positions"]][0] : f["offsets"][f["end_positions"]][1]]
        assert normalize_answer(text) == normalize_answer(ex["answers"]["text"][0])
        checked += 1
    assert checked >= 15
    gold = _peaked_outputs(feats, lambda f: (f["start_positions"], f["end_positions"]))
    decoded = head.decode(spec, examples, feats, gold)
    assert compute_metrics(spec, decoded.predictions, decoded.references)["exact_match"] == 100.0


def test_tagging_labels_first_subword_only_and_decodes_truncated_words(tokenizer):
    spec = get_task("wnut17")
    head = get_head_type("ner")
    ex = [{"id": "s", "tokens": ["Obama", "visited", "Copenhagenish", "yesterday"], "tags": [9, 0, 7, 0]}]
    (f,) = head.featurize(spec, ex, tokenizer, max_length=64)
    pieces = tokenizer.convert_ids_to_tokens(f["input_ids"])
    assert f["labels"][0] == IGNORE_INDEX and f["labels"][-1] == IGNORE_INDEX
    assert [f["labels"][p] for p in f["first_token"]] == [9, 0, 7, 0]
    assert sum(label != IGNORE_INDEX for label in f["labels"]) == 4
    assert len(pieces) > 6  # "Copenhagenish" splits, its continuation pieces carry IGNORE_INDEX
    (short,) = head.featurize(spec, ex, tokenizer, max_length=4)  # <s> + 2 pieces + </s>
    assert short["first_token"][-1] == -1
    logits = np.zeros((len(short["input_ids"]), len(spec.labels)), dtype=np.float32)
    logits[short["first_token"][0], 9] = 1.0
    decoded = head.decode(spec, ex, [short], [logits])
    assert decoded.predictions[0][0] == 9 and decoded.predictions[0][-1] == spec.labels.index("O")


def test_multiple_choice_collate_masks_missing_choices(tokenizer):
    head = get_head_type("multiple_choice")
    ex = [{"id": "a", "context": "A man", "question": "", "choices": ["runs.", "walks home.", "sleeps."], "label": 1},
          {"id": "b", "context": "", "question": "Which?", "choices": ["x", "y"], "label": 0}]
    feats = head.featurize(get_task("piqa"), ex, tokenizer, max_length=32)
    batch = head.collate(feats, tokenizer)
    assert batch["input_ids"].shape[:2] == (2, 3)
    assert batch["choice_mask"].tolist() == [[True, True, True], [True, True, False]]
    logits = torch.tensor([[0.0, 2.0, 0.0], [2.0, 0.0, 0.0]]).masked_fill(~batch["choice_mask"], -1e9)
    loss = head.loss(logits, batch)
    expected = -(torch.log_softmax(torch.tensor([0.0, 2.0, 0.0]), 0)[1] + torch.log_softmax(torch.tensor([2.0, 0.0]), 0)[0]) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    outs = head.feature_outputs(logits, batch)
    assert [len(o) for o in outs] == [3, 2]
    assert head.decode(get_task("piqa"), ex, feats, outs).predictions == [1, 0]


def test_regression_and_classification_losses_and_dynamic_padding(tokenizer):
    reg, cls = get_head_type("regression"), get_head_type("classification")
    ex = [{"id": "1", "text_a": "A short one.", "text_b": "Another.", "label": 4.0},
          {"id": "2", "text_a": "A much longer sentence with many more words in it.", "text_b": "Ok.", "label": 1.0}]
    feats = reg.featurize(get_task("stsb"), ex, tokenizer, max_length=64)
    batch = reg.collate(feats, tokenizer)
    assert batch["input_ids"].shape[1] == max(len(f["input_ids"]) for f in feats)  # padded to the longest only
    assert reg.collate(feats, tokenizer, pad_to=64)["input_ids"].shape[1] == 64
    assert reg.loss(torch.tensor([[3.0], [1.0]]), batch).item() == pytest.approx(0.5)
    nli = [{"id": "1", "text_a": "p", "text_b": "h", "label": 2}]
    cbatch = cls.collate(cls.featurize(get_task("anli"), nli, tokenizer, 64), tokenizer)
    assert cls.loss(torch.zeros(1, 3), cbatch).item() == pytest.approx(np.log(3))


def test_unknown_head_type_lists_known_ones():
    with pytest.raises(XitConfigError, match="known head types: classification, regression, span"):
        get_head_type("seq2seq")
