"""Recipe-fidelity options: the encoder's input prefix on training texts and first-token vs mean pooling.

The defaults (input_prefix none, head_pooling first) must reproduce the features and logits of the
heads before these options existed: features are compared with a frozen copy
(tests/fixtures/head_features_v1.json, written by the old featurizers on 6 tasks x 4 dev examples),
logits with a frozen copy of the old first-token head.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from xit.errors import XitConfigError
from xit.tasks import get_task
from xit.tasks.heads import IGNORE_INDEX, PooledHead, SpanSettings, get_head_type, prefix_text
from xit.training import TrainConfig

FROZEN = json.loads((Path(__file__).parent / "fixtures" / "head_features_v1.json").read_text())


@pytest.fixture(scope="module")
def tokenizer(e5_small_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(e5_small_path))


def _head(task: str):
    return get_head_type(get_task(task).head, SpanSettings(doc_stride=FROZEN["doc_stride"]))


def _as_json(features):
    """Features as the fixture stores them (tuples -> lists)."""
    return json.loads(json.dumps(features, ensure_ascii=False, sort_keys=True))


# ------------------------------------------------------------------ input prefix

@pytest.mark.parametrize("task", sorted(FROZEN["tasks"]))
def test_default_features_equal_the_frozen_old_features(task, tokenizer):
    frozen = FROZEN["tasks"][task]
    head = _head(task)
    default = head.featurize(get_task(task), frozen["examples"], tokenizer, FROZEN["max_length"])
    explicit = head.featurize(get_task(task), frozen["examples"], tokenizer, FROZEN["max_length"], prefix="")
    assert _as_json(default) == frozen["features"]
    assert _as_json(explicit) == frozen["features"]


def test_prefix_text_comes_from_the_encoder(e5_small):
    assert prefix_text("none", e5_small) == ""
    assert prefix_text("query", e5_small) == "query: "
    assert prefix_text("passage", e5_small) == "passage: "
    with pytest.raises(XitConfigError, match=r"input_prefix='queries' is not valid\. Choose one of: none, query, passage"):
        prefix_text("queries", e5_small)


def _split_prefix(ids: list[int], n: int) -> tuple[list[int], list[int]]:
    """(the n ids after CLS, CLS + the rest)."""
    return ids[1 : 1 + n], ids[:1] + ids[1 + n :]


@pytest.mark.parametrize("task", sorted(FROZEN["tasks"]))
def test_query_features_start_with_the_prefix_tokens(task, tokenizer):
    """With room for everything (max_length 512), prefixed features are CLS + prefix + the bare features."""
    spec, head, examples = get_task(task), _head(task), FROZEN["tasks"][task]["examples"]
    bare = head.featurize(spec, examples, tokenizer, 512)
    query = head.featurize(spec, examples, tokenizer, 512, prefix="query: ")
    prefix_ids = tokenizer("query:", add_special_tokens=False)["input_ids"]
    n = len(prefix_ids)
    assert n == 3 and len(query) == len(bare)
    for q, b in zip(query, bare):
        sequences = q["input_ids"] if spec.head == "multiple_choice" else [q["input_ids"]]
        bare_sequences = b["input_ids"] if spec.head == "multiple_choice" else [b["input_ids"]]
        for q_ids, b_ids in zip(sequences, bare_sequences, strict=True):
            assert _split_prefix(q_ids, n) == (prefix_ids, b_ids)
        if spec.head in ("tagging", "ner"):
            assert q["labels"][1 : 1 + n] == [IGNORE_INDEX] * n
            assert _split_prefix(q["labels"], n)[1] == b["labels"]
            assert q["first_token"] == [p + n for p in b["first_token"]]
        elif spec.head == "span":
            shift = (lambda p: p) if b["start_positions"] == b["cls_index"] else (lambda p: p + n)
            assert (q["start_positions"], q["end_positions"]) == (shift(b["start_positions"]), shift(b["end_positions"]))
            assert q["offsets"][1 + n :] == b["offsets"][1:]
        else:
            assert q["labels"] == b["labels"]


def test_span_answer_text_survives_the_prefix(tokenizer):
    spec, head = get_task("squad_v2"), _head("squad_v2")
    examples = FROZEN["tasks"]["squad_v2"]["examples"]
    features = head.featurize(spec, examples, tokenizer, FROZEN["max_length"], prefix="query: ")
    answered = [f for f in features if f["start_positions"] != f["cls_index"]]
    assert answered
    for f in answered:
        text = tokenizer.decode(f["input_ids"][f["start_positions"] : f["end_positions"] + 1]).strip()
        assert text in examples[f["example_index"]]["answers"]["text"]


# ------------------------------------------------------------------ pooling

def _old_first_token_head(head: PooledHead, hidden: torch.Tensor) -> torch.Tensor:
    """Frozen copy of PooledHead.forward before pooling was an option (eval mode: dropout is identity)."""
    x = head.dropout(hidden[:, 0])
    x = torch.tanh(head.dense(x))
    return head.out(head.dropout(x))


def _hidden_and_mask() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    hidden = torch.randn(3, 6, 8, generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    return hidden, mask


def test_first_pooling_logits_equal_the_old_head():
    torch.manual_seed(0)
    head = PooledHead(8, 3).eval()
    hidden, mask = _hidden_and_mask()
    assert head.pooling == "first"
    assert torch.equal(head(hidden), _old_first_token_head(head, hidden))
    assert torch.equal(head(hidden, mask), _old_first_token_head(head, hidden))


def test_mean_pooling_equals_a_hand_computed_masked_mean():
    torch.manual_seed(0)
    head = PooledHead(8, 3, pooling="mean").eval()
    hidden, mask = _hidden_and_mask()
    by_hand = torch.stack([hidden[i, : int(mask[i].sum())].sum(0) / int(mask[i].sum()) for i in range(3)])
    expected = head.out(torch.tanh(head.dense(by_hand)))
    assert torch.allclose(head(hidden, mask), expected, atol=1e-6, rtol=0)
    padded_changed = hidden.clone()
    padded_changed[mask == 0] = 100.0  # padding positions must not matter
    assert torch.equal(head(padded_changed, mask), head(hidden, mask))
    assert not torch.allclose(head(hidden, mask), _old_first_token_head(head, hidden))
    with pytest.raises(XitConfigError, match="mean pooling needs the batch's attention_mask"):
        head(hidden)


def _encoder_batch(task: str, tokenizer):
    frozen = FROZEN["tasks"][task]
    head = _head(task)
    return head, head.collate(head.featurize(get_task(task), frozen["examples"], tokenizer, 64), tokenizer)


@pytest.mark.parametrize("task", ["rte", "stsb", "hellaswag"])
def test_pooled_head_types_default_to_the_old_logits_and_mean_pools_real_tokens(task, e5_small, tokenizer):
    """Through the real encoder: default logits equal the old first-token path; mean uses non-padding tokens."""
    head_type, batch = _encoder_batch(task, tokenizer)
    encoder = e5_small.model.eval()
    keys = ["input_ids", "attention_mask"]
    torch.manual_seed(0)
    first = head_type.build(get_task(task), encoder.config.hidden_size).eval()
    mean = copy.deepcopy(first)
    mean.pooling = "mean"
    with torch.no_grad():
        flat = {k: batch[k].reshape(-1, batch[k].shape[-1]) for k in keys}
        hidden = encoder(**flat).last_hidden_state
        old = _old_first_token_head(first, hidden).view(batch["labels"].shape[0], -1)
        new = head_type.logits(encoder, first, batch, keys)
        mean_logits = head_type.logits(encoder, mean, batch, keys)
    if task == "hellaswag":  # every hellaswag example has 4 choices: nothing is masked
        assert batch["choice_mask"].all()
    assert torch.equal(new.reshape(old.shape), old)
    pooled = torch.stack([hidden[i, : int(flat["attention_mask"][i].sum())].mean(0) for i in range(hidden.shape[0])])
    expected = mean.out(torch.tanh(mean.dense(pooled))).view(old.shape)
    assert torch.allclose(mean_logits.reshape(old.shape), expected, atol=1e-5, rtol=0)
    assert batch["attention_mask"].min() == 0  # the batch has padding, so the masked mean is exercised


def test_token_heads_ignore_pooling(tokenizer):
    for task in ("ud_pos", "squad_v2"):
        head = _head(task).build(get_task(task), 8, pooling="mean")
        assert not hasattr(head, "pooling")


# ------------------------------------------------------------------ config and records

@pytest.mark.parametrize(
    "bad, message",
    [
        ({"input_prefix": "querry"}, "train.input_prefix='querry' is not valid. Did you mean 'query'? Choose one of: none, query, passage"),
        ({"input_prefix": True}, "train.input_prefix=True is not valid."),
        ({"head_pooling": "cls"}, "train.head_pooling='cls' is not valid. Choose one of: first, mean"),
        ({"head_pooling": "means"}, "Did you mean 'mean'? Choose one of: first, mean"),
    ],
)
def test_bad_options_fail_naming_the_field_and_choices(bad, message):
    with pytest.raises(XitConfigError) as err:
        TrainConfig.from_dict({"tasks": ["rte"], **bad})
    assert message in str(err.value)


def test_defaults_keep_run_ids_and_options_change_them():
    from xit.grid.runs import resolved_recipe, run_id

    default = resolved_recipe("m", ("rte",), 0, {})
    explicit = resolved_recipe("m", ("rte",), 0, {"input_prefix": "none", "head_pooling": "first"})
    changed = resolved_recipe("m", ("rte",), 0, {"input_prefix": "query", "head_pooling": "mean"})
    assert default == explicit and (default["input_prefix"], default["head_pooling"]) == ("none", "first")
    assert {k for k in changed if changed[k] != default[k]} == {"head_pooling", "input_prefix"}
    ids = [run_id("m", ("rte",), 0, recipe, {}) for recipe in (default, explicit, changed)]
    assert ids[0] == ids[1] != ids[2]


def test_training_records_and_reloads_the_options(tmp_path, e5_small, e5_small_path):
    """A 2-step run with both options: the summary's config carries them and heads.pt reloads mean pooling."""
    from xit.training import load_heads, train

    config = TrainConfig.from_dict({
        "model": str(e5_small_path), "tasks": ["rte", "ud_pos"], "max_steps": 2, "batch_size": 2, "max_length": 32,
        "freeze_word_embeddings": True, "max_train_examples": 8, "max_dev_examples": 4, "sampler": {"name": "uniform"},
        "progress": False, "input_prefix": "query", "head_pooling": "mean", "eval_targets": [],
    })
    result = train(config, tmp_path / "run", encoder=e5_small)
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["config"]["input_prefix"] == "query" and summary["config"]["head_pooling"] == "mean"
    recorded = json.loads((result.encoder_dir / "xit_training.json").read_text())["config"]
    assert (recorded["input_prefix"], recorded["head_pooling"]) == ("query", "mean")
    heads = load_heads(result.heads_path)
    assert heads["rte"].pooling == "mean" and not hasattr(heads["ud_pos"], "pooling")
    assert set(result.dev_metrics["task"]) == {"rte", "ud_pos"}
