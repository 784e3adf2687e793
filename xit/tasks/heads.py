"""Task heads by head type, each with its featurizer, collator, loss and prediction decoding.

One shared encoder runs under every head. A head type bundles what a task of that
type needs, kept together as the transformers examples keep a task's data handling
next to its head:

- ``featurize``: canonical examples (see docs/contracts.md) -> tokenized features
  (plain dicts, unpadded; padding happens per batch in ``collate``);
- ``build``: the head module on top of the encoder's last hidden state;
- ``logits`` / ``loss``: the forward pass of the head and its training loss;
- ``decode``: per-feature logits -> per-example predictions and references, in the
  form ``xit.tasks.metrics.compute_metrics`` takes.

Head types: ``classification``, ``regression``, ``span`` (SQuAD v1/v2), ``multiple_choice``,
``tagging`` and ``ner`` (first-subword labelling; NER differs only in its metric).

Two recipe options reach every head type (``TrainConfig.input_prefix`` / ``head_pooling``):
``featurize(..., prefix=...)`` prepends the encoder's query/passage prefix to each example's first
text (e5 was trained with "query: "/"passage: ", arXiv 2402.05672), and ``build(..., pooling=...)``
makes pooled heads read the first token or the mean over non-padding tokens.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from xit.errors import XitConfigError
from xit.tasks.head_base import (  # noqa: F401  (re-exported: the head interface lives in head_base)
    INPUT_PREFIXES,
    POOLINGS,
    Decoded,
    Feature,
    HeadType,
    PooledHead,
    TokenHead,
    as_rows,
    decode_argmax,
    encode,
    model_inputs,
    pad_inputs,
    pad_label_rows,
    prefix_text,
)
from xit.tasks.metrics import IGNORE_INDEX
from xit.tasks.span_head import SpanHeadType, SpanSettings  # noqa: F401


def _pair_texts(rows: list[dict[str, Any]], key_a: str, key_b: str) -> tuple[list[str], list[str] | None]:
    """First and (optional) second texts; a task either has second texts on every example or on none."""
    first = [r[key_a] or "" for r in rows]
    seconds = [r.get(key_b) for r in rows]
    if all(s is None for s in seconds):
        return first, None
    return first, [s or "" for s in seconds]


class ClassificationHeadType(HeadType):
    """Single-text or text-pair classification: pooled first token -> one logit per label; cross-entropy."""

    name = "classification"

    def build(self, spec: Any, hidden_size: int, pooling: str = "first") -> nn.Module:
        return PooledHead(hidden_size, len(spec.labels), pooling=pooling)

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int, prefix: str = "") -> list[Feature]:
        rows = as_rows(examples)
        if not rows:
            return []
        first, second = _pair_texts(rows, "text_a", "text_b")
        # The prefix goes on the first text only: the pair is one sequence, as e5 reads one query.
        first = [prefix + text for text in first]
        enc = tokenizer(first, second, truncation=True, max_length=max_length)
        keys = [k for k in model_inputs(tokenizer) if k in enc]
        return [
            {**{k: enc[k][i] for k in keys}, "labels": self.label_value(row["label"]), "example_index": i}
            for i, row in enumerate(rows)
        ]

    def label_value(self, label: Any) -> Any:
        """The training target stored in a feature."""
        return int(label)

    def logits(self, encoder: nn.Module, head: nn.Module, batch: dict[str, torch.Tensor], input_keys: Sequence[str]) -> torch.Tensor:
        return head(encode(encoder, batch, input_keys), batch.get("attention_mask"))

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), batch["labels"])

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        return decode_argmax(examples, features, outputs)

    def baseline_note(self) -> str:
        return "chance accuracy (1 / number of labels) or the majority-class rate"


class RegressionHeadType(ClassificationHeadType):
    """Text-pair regression (STS-B): pooled first token -> one score; mean squared error."""

    name = "regression"

    def build(self, spec: Any, hidden_size: int, pooling: str = "first") -> nn.Module:
        return PooledHead(hidden_size, 1, pooling=pooling)

    def label_value(self, label: Any) -> Any:
        return float(label)

    def collate(self, features: list[Feature], tokenizer: Any, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        batch = pad_inputs(tokenizer, features, pad_to)
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.float32)
        return batch

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.mse_loss(logits.float().squeeze(-1), batch["labels"])

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        rows = as_rows(examples)
        preds = {f["example_index"]: float(out[0]) for f, out in zip(features, outputs)}
        return Decoded([str(r["id"]) for r in rows], [preds[i] for i in range(len(rows))], [float(r["label"]) for r in rows])

    def baseline_note(self) -> str:
        return "correlation near 0"


class MultipleChoiceHeadType(HeadType):
    """Multiple choice: the shared encoder reads each (context + question, choice) pair; one logit per pair; softmax over choices."""

    name = "multiple_choice"

    def build(self, spec: Any, hidden_size: int, pooling: str = "first") -> nn.Module:
        return PooledHead(hidden_size, 1, pooling=pooling)

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int, prefix: str = "") -> list[Feature]:
        rows = as_rows(examples)
        firsts, seconds, owner = [], [], []
        for i, row in enumerate(rows):
            stem = " ".join(part for part in ((row.get("context") or "").strip(), (row.get("question") or "").strip()) if part)
            for choice in row["choices"]:
                firsts.append(prefix + stem)
                seconds.append(choice or "")
                owner.append(i)
        if not rows:
            return []
        enc = tokenizer(firsts, seconds, truncation=True, max_length=max_length)
        keys = [k for k in model_inputs(tokenizer) if k in enc]
        per_example: dict[int, list[int]] = defaultdict(list)
        for j, i in enumerate(owner):
            per_example[i].append(j)
        return [
            {
                **{k: [enc[k][j] for j in per_example[i]] for k in keys},
                "labels": int(row["label"]),
                "example_index": i,
            }
            for i, row in enumerate(rows)
        ]

    def collate(self, features: list[Feature], tokenizer: Any, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        keys = [k for k in model_inputs(tokenizer) if k in features[0]]
        n_choices = max(len(f["input_ids"]) for f in features)
        flat, mask = [], torch.zeros(len(features), n_choices, dtype=torch.bool)
        for b, f in enumerate(features):
            k_here = len(f["input_ids"])
            mask[b, :k_here] = True
            for c in range(n_choices):
                # Tasks with a varying number of choices repeat the last one and mask its logit out.
                src = min(c, k_here - 1)
                flat.append({k: f[k][src] for k in keys})
        batch = pad_inputs(tokenizer, flat, pad_to)
        batch = {k: v.view(len(features), n_choices, -1) for k, v in batch.items()}
        batch["choice_mask"] = mask
        batch["labels"] = torch.tensor([f["labels"] for f in features])
        return batch

    def logits(self, encoder: nn.Module, head: nn.Module, batch: dict[str, torch.Tensor], input_keys: Sequence[str]) -> torch.Tensor:
        n_examples, n_choices = batch["input_ids"].shape[:2]
        flat = {k: batch[k].reshape(n_examples * n_choices, -1) for k in input_keys if k in batch}
        scores = head(encode(encoder, flat, input_keys), flat.get("attention_mask")).view(n_examples, n_choices)
        return scores.masked_fill(~batch["choice_mask"], torch.finfo(scores.dtype).min)

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), batch["labels"])

    def feature_outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        out = logits.detach().float().cpu().numpy()
        mask = batch["choice_mask"].cpu().numpy()
        return [row[m] for row, m in zip(out, mask)]

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        return decode_argmax(examples, features, outputs)

    def baseline_note(self) -> str:
        return "chance accuracy (1 / number of choices)"


class TaggingHeadType(HeadType):
    """Token tagging: the first sub-word of each word carries its tag, every other position IGNORE_INDEX."""

    name = "tagging"

    def build(self, spec: Any, hidden_size: int, pooling: str = "first") -> nn.Module:
        return TokenHead(hidden_size, len(spec.labels))

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int, prefix: str = "") -> list[Feature]:
        rows = as_rows(examples)
        if not rows:
            return []
        # The prefix enters as extra leading words labelled IGNORE_INDEX ("query: " -> ["query:"]),
        # which tokenize as the prefix does in running text; word ids below are shifted past them.
        prefix_words = prefix.split()
        n_prefix = len(prefix_words)
        enc = tokenizer([prefix_words + list(r["tokens"]) for r in rows], is_split_into_words=True, truncation=True, max_length=max_length)
        keys = [k for k in model_inputs(tokenizer) if k in enc]
        features = []
        for i, row in enumerate(rows):
            word_ids = enc.word_ids(i)
            labels = [IGNORE_INDEX] * len(word_ids)
            # Token position of each word's first sub-word; -1 for words cut by truncation
            # or that tokenize to nothing (they get the fallback tag when decoding).
            first_token = [-1] * len(row["tokens"])
            previous = None
            for pos, word in enumerate(word_ids):
                if word is not None and word != previous and word >= n_prefix:
                    labels[pos] = int(row["tags"][word - n_prefix])
                    first_token[word - n_prefix] = pos
                previous = word
            features.append({**{k: enc[k][i] for k in keys}, "labels": labels, "first_token": first_token, "example_index": i})
        return features

    def collate(self, features: list[Feature], tokenizer: Any, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        batch = pad_inputs(tokenizer, features, pad_to)
        batch["labels"] = pad_label_rows([f["labels"] for f in features], batch["input_ids"].shape[1])
        return batch

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1), ignore_index=IGNORE_INDEX
        )

    def feature_outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        out = logits.detach().float().cpu().numpy()
        lengths = batch["attention_mask"].sum(dim=1).cpu().numpy()
        return [row[: int(n)] for row, n in zip(out, lengths)]

    def fallback_tag(self, spec: Any) -> int:
        """Tag given to words the model never saw (truncated): 'O' where the label set has it, else label 0."""
        return list(spec.labels).index("O") if "O" in list(spec.labels) else 0

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        rows = as_rows(examples)
        fallback = self.fallback_tag(spec)
        preds: dict[int, list[int]] = {}
        for f, out in zip(features, outputs):
            token_tags = out.argmax(axis=-1)
            preds[f["example_index"]] = [int(token_tags[p]) if p >= 0 else fallback for p in f["first_token"]]
        return Decoded(
            [str(r["id"]) for r in rows], [preds[i] for i in range(len(rows))], [[int(t) for t in r["tags"]] for r in rows]
        )

    def baseline_note(self) -> str:
        return "near-random tag accuracy"


class NerHeadType(TaggingHeadType):
    """Named-entity recognition: tagging over BIO tags; scored by entity-level F1 (seqeval)."""

    name = "ner"

    def baseline_note(self) -> str:
        return "entity F1 near 0"


HEAD_TYPE_CLASSES: dict[str, type[HeadType]] = {
    h.name: h
    for h in (
        ClassificationHeadType,
        RegressionHeadType,
        SpanHeadType,
        MultipleChoiceHeadType,
        TaggingHeadType,
        NerHeadType,
    )
}


def get_head_type(name: str, span: SpanSettings | None = None) -> HeadType:
    """A head type by name (classification, regression, span, multiple_choice, tagging, ner); ``span`` sets span knobs."""
    if name not in HEAD_TYPE_CLASSES:
        raise XitConfigError(f"unknown head type {name!r}; known head types: {', '.join(HEAD_TYPE_CLASSES)}")
    return SpanHeadType(span) if name == "span" else HEAD_TYPE_CLASSES[name]()


def feature_length(feature: Feature) -> int:
    """Tokens in a feature (the longest choice for multiple choice), used for length grouping."""
    ids = feature["input_ids"]
    return max(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)
