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
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from xit.errors import XitConfigError

#: Label id that the losses ignore (sub-word continuations, special tokens, padding).
IGNORE_INDEX = -100

Feature = dict[str, Any]


def _as_rows(examples: Iterable[dict[str, Any]] | Any) -> list[dict[str, Any]]:
    """Canonical examples as a list of dicts (accepts a datasets.Dataset or any iterable of dicts)."""
    return [dict(ex) for ex in examples]

def _decode_argmax(examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
    """One prediction per example: the argmax of its feature's logits (classes or choices)."""
    rows = _as_rows(examples)
    preds = {f["example_index"]: int(np.argmax(out)) for f, out in zip(features, outputs)}
    return Decoded([str(r["id"]) for r in rows], [preds[i] for i in range(len(rows))], [int(r["label"]) for r in rows])



def _model_inputs(tokenizer: Any) -> list[str]:
    """The encoder inputs a tokenizer produces (input_ids, attention_mask, token_type_ids when it has them)."""
    return [name for name in tokenizer.model_input_names if name in ("input_ids", "attention_mask", "token_type_ids")]


def pad_inputs(tokenizer: Any, rows: list[dict[str, list[int]]], pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Pad token sequences to the longest in the batch (dynamic padding) or to ``pad_to`` tokens."""
    keys = [k for k in _model_inputs(tokenizer) if k in rows[0]]
    padded = tokenizer.pad(
        [{k: row[k] for k in keys} for row in rows],
        padding="max_length" if pad_to else "longest",
        max_length=pad_to,
        return_tensors="pt",
    )
    return {k: padded[k] for k in keys}


def _pad_label_rows(rows: list[list[int]], width: int) -> torch.Tensor:
    """Right-pad per-token label lists with IGNORE_INDEX to ``width``."""
    out = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


class PooledHead(nn.Module):
    """First-token pooling, dense + tanh, then a linear output (the RoBERTa/XLM-R classification head)."""

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, num_outputs)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, seq, hidden) -> (batch, num_outputs)."""
        x = self.dropout(hidden[:, 0])
        x = torch.tanh(self.dense(x))
        return self.out(self.dropout(x))


class TokenHead(nn.Module):
    """A linear output on every token (span start/end logits, tag logits)."""

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_outputs)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, seq, hidden) -> (batch, seq, num_outputs)."""
        return self.out(self.dropout(hidden))


def encode(encoder: nn.Module, batch: dict[str, torch.Tensor], input_keys: Sequence[str]) -> torch.Tensor:
    """Run the shared encoder on a batch's model inputs and return the last hidden state."""
    inputs = {k: batch[k] for k in input_keys if k in batch}
    return encoder(**inputs).last_hidden_state


@dataclass
class Decoded:
    """Per-example predictions and references of one task's dev set, aligned by position."""

    ids: list[str]
    predictions: list[Any]
    references: list[Any]


class HeadType:
    """Base of the head types: featurize, collate, build, logits, loss, decode."""

    name: str = ""
    #: Batch keys that are labels (everything else in a batch except model inputs is bookkeeping).
    label_keys: tuple[str, ...] = ("labels",)

    def build(self, spec: Any, hidden_size: int) -> nn.Module:
        """The head module for a task."""
        raise NotImplementedError

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int) -> list[Feature]:
        """Tokenize canonical examples into unpadded features."""
        raise NotImplementedError

    def collate(self, features: list[Feature], tokenizer: Any, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        """Pad a list of features into a batch of tensors."""
        batch = pad_inputs(tokenizer, features, pad_to)
        batch["labels"] = torch.tensor([f["labels"] for f in features])
        return batch

    def logits(self, encoder: nn.Module, head: nn.Module, batch: dict[str, torch.Tensor], input_keys: Sequence[str]) -> torch.Tensor:
        """Head output for a batch."""
        return head(encode(encoder, batch, input_keys))

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Training loss of a batch."""
        raise NotImplementedError

    def feature_outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        """Split batch logits into one float32 array per feature (padding removed)."""
        return list(logits.detach().float().cpu().numpy())

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        """Per-example predictions and references from per-feature outputs."""
        raise NotImplementedError

    def baseline_note(self) -> str:
        """What an untrained head scores (for reports)."""
        return ""


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

    def build(self, spec: Any, hidden_size: int) -> nn.Module:
        return PooledHead(hidden_size, len(spec.labels))

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int) -> list[Feature]:
        rows = _as_rows(examples)
        if not rows:
            return []
        first, second = _pair_texts(rows, "text_a", "text_b")
        enc = tokenizer(first, second, truncation=True, max_length=max_length)
        keys = [k for k in _model_inputs(tokenizer) if k in enc]
        return [
            {**{k: enc[k][i] for k in keys}, "labels": self.label_value(row["label"]), "example_index": i}
            for i, row in enumerate(rows)
        ]

    def label_value(self, label: Any) -> Any:
        """The training target stored in a feature."""
        return int(label)

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), batch["labels"])

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        return _decode_argmax(examples, features, outputs)

    def baseline_note(self) -> str:
        return "chance accuracy (1 / number of labels) or the majority-class rate"


class RegressionHeadType(ClassificationHeadType):
    """Text-pair regression (STS-B): pooled first token -> one score; mean squared error."""

    name = "regression"

    def build(self, spec: Any, hidden_size: int) -> nn.Module:
        return PooledHead(hidden_size, 1)

    def label_value(self, label: Any) -> Any:
        return float(label)

    def collate(self, features: list[Feature], tokenizer: Any, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        batch = pad_inputs(tokenizer, features, pad_to)
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.float32)
        return batch

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.mse_loss(logits.float().squeeze(-1), batch["labels"])

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        rows = _as_rows(examples)
        preds = {f["example_index"]: float(out[0]) for f, out in zip(features, outputs)}
        return Decoded([str(r["id"]) for r in rows], [preds[i] for i in range(len(rows))], [float(r["label"]) for r in rows])

    def baseline_note(self) -> str:
        return "correlation near 0"


class MultipleChoiceHeadType(HeadType):
    """Multiple choice: the shared encoder reads each (context + question, choice) pair; one logit per pair; softmax over choices."""

    name = "multiple_choice"

    def build(self, spec: Any, hidden_size: int) -> nn.Module:
        return PooledHead(hidden_size, 1)

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int) -> list[Feature]:
        rows = _as_rows(examples)
        firsts, seconds, owner = [], [], []
        for i, row in enumerate(rows):
            stem = " ".join(part for part in ((row.get("context") or "").strip(), (row.get("question") or "").strip()) if part)
            for choice in row["choices"]:
                firsts.append(stem)
                seconds.append(choice or "")
                owner.append(i)
        if not rows:
            return []
        enc = tokenizer(firsts, seconds, truncation=True, max_length=max_length)
        keys = [k for k in _model_inputs(tokenizer) if k in enc]
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
        keys = [k for k in _model_inputs(tokenizer) if k in features[0]]
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
        scores = head(encode(encoder, flat, input_keys)).view(n_examples, n_choices)
        return scores.masked_fill(~batch["choice_mask"], torch.finfo(scores.dtype).min)

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), batch["labels"])

    def feature_outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        out = logits.detach().float().cpu().numpy()
        mask = batch["choice_mask"].cpu().numpy()
        return [row[m] for row, m in zip(out, mask)]

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        return _decode_argmax(examples, features, outputs)

    def baseline_note(self) -> str:
        return "chance accuracy (1 / number of choices)"


class TaggingHeadType(HeadType):
    """Token tagging: the first sub-word of each word carries its tag, every other position IGNORE_INDEX."""

    name = "tagging"

    def build(self, spec: Any, hidden_size: int) -> nn.Module:
        return TokenHead(hidden_size, len(spec.labels))

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int) -> list[Feature]:
        rows = _as_rows(examples)
        if not rows:
            return []
        enc = tokenizer([list(r["tokens"]) for r in rows], is_split_into_words=True, truncation=True, max_length=max_length)
        keys = [k for k in _model_inputs(tokenizer) if k in enc]
        features = []
        for i, row in enumerate(rows):
            word_ids = enc.word_ids(i)
            labels = [IGNORE_INDEX] * len(word_ids)
            # Token position of each word's first sub-word; -1 for words cut by truncation
            # or that tokenize to nothing (they get the fallback tag when decoding).
            first_token = [-1] * len(row["tokens"])
            previous = None
            for pos, word in enumerate(word_ids):
                if word is not None and word != previous:
                    labels[pos] = int(row["tags"][word])
                    first_token[word] = pos
                previous = word
            features.append({**{k: enc[k][i] for k in keys}, "labels": labels, "first_token": first_token, "example_index": i})
        return features

    def collate(self, features: list[Feature], tokenizer: Any, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        batch = pad_inputs(tokenizer, features, pad_to)
        batch["labels"] = _pad_label_rows([f["labels"] for f in features], batch["input_ids"].shape[1])
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
        rows = _as_rows(examples)
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


@dataclass
class SpanSettings:
    """Knobs of span extraction (HF question-answering example defaults)."""

    doc_stride: int = 128
    n_best: int = 20
    max_answer_length: int = 30
    null_score_margin: float = 0.0


class SpanHeadType(HeadType):
    """Extractive QA (SQuAD v1.1 and v2.0): start/end logits over context tokens; no-answer points at the CLS position.

    Long contexts are split into overlapping windows (doc stride) with the fast tokenizer's
    overflow and offset mapping; a window that does not contain the answer is trained to
    point at CLS. Decoding scores the n-best start/end pairs of every window of an example
    and, for SQuAD v2, answers "" when the best CLS (null) score beats the best span.
    """

    name = "span"
    label_keys = ("start_positions", "end_positions")

    def __init__(self, settings: SpanSettings | None = None):
        self.settings = settings or SpanSettings()

    def build(self, spec: Any, hidden_size: int) -> nn.Module:
        return TokenHead(hidden_size, 2)

    def windows(self, max_length: int) -> tuple[int, int]:
        """(max question tokens, doc stride) that keep every window valid for this max_length."""
        max_question = max(8, max_length // 4)
        room = max_length - max_question - 4  # CLS, SEP(s), at least one context token
        if room < 8:
            raise XitConfigError(f"max_length={max_length} is too short for span extraction; use 64 or more")
        return max_question, max(1, min(self.settings.doc_stride, room // 2))

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int) -> list[Feature]:
        rows = _as_rows(examples)
        if not rows:
            return []
        max_question, stride = self.windows(max_length)
        questions = self._clip_questions([r["question"].lstrip() for r in rows], tokenizer, max_question)
        contexts = [r["context"] for r in rows]
        pad_on_right = tokenizer.padding_side == "right"
        enc = tokenizer(
            questions if pad_on_right else contexts,
            contexts if pad_on_right else questions,
            truncation="only_second" if pad_on_right else "only_first",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        context_seq = 1 if pad_on_right else 0
        keys = [k for k in _model_inputs(tokenizer) if k in enc]
        features = []
        for j, i in enumerate(enc["overflow_to_sample_mapping"]):
            seq_ids = enc.sequence_ids(j)
            offsets = [tuple(o) if seq_ids[p] == context_seq else None for p, o in enumerate(enc["offset_mapping"][j])]
            ids = enc["input_ids"][j]
            cls_index = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
            start, end = self._positions(rows[i]["answers"], offsets, cls_index)
            features.append(
                {**{k: enc[k][j] for k in keys}, "start_positions": start, "end_positions": end,
                 "offsets": offsets, "cls_index": cls_index, "example_index": int(i)}
            )
        return features

    @staticmethod
    def _clip_questions(questions: list[str], tokenizer: Any, max_tokens: int) -> list[str]:
        """Cut overlong questions at a token boundary so every window keeps room for context."""
        enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        clipped = []
        for q, offs in zip(questions, enc["offset_mapping"]):
            clipped.append(q if len(offs) <= max_tokens else q[: offs[max_tokens - 1][1]])
        return clipped

    @staticmethod
    def _positions(answers: dict[str, list], offsets: list[tuple[int, int] | None], cls_index: int) -> tuple[int, int]:
        """Token start/end of the first gold answer inside this window, or (cls, cls) when it is absent."""
        if not answers or not answers.get("text"):
            return cls_index, cls_index
        start_char = int(answers["answer_start"][0])
        end_char = start_char + len(answers["text"][0])
        context_positions = [p for p, o in enumerate(offsets) if o is not None]
        if not context_positions:
            return cls_index, cls_index
        first, last = context_positions[0], context_positions[-1]
        if offsets[first][0] > start_char or offsets[last][1] < end_char:
            return cls_index, cls_index
        start = next(p for p in context_positions if offsets[p][1] > start_char)
        end = next(p for p in reversed(context_positions) if offsets[p][0] < end_char)
        return start, max(start, end)

    def collate(self, features: list[Feature], tokenizer: Any, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        batch = pad_inputs(tokenizer, features, pad_to)
        batch["start_positions"] = torch.tensor([f["start_positions"] for f in features])
        batch["end_positions"] = torch.tensor([f["end_positions"] for f in features])
        return batch

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = batch["attention_mask"].bool()
        very_low = torch.finfo(torch.float32).min
        start_logits = logits[..., 0].float().masked_fill(~mask, very_low)
        end_logits = logits[..., 1].float().masked_fill(~mask, very_low)
        return (
            nn.functional.cross_entropy(start_logits, batch["start_positions"])
            + nn.functional.cross_entropy(end_logits, batch["end_positions"])
        ) / 2

    def feature_outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        out = logits.detach().float().cpu().numpy()
        lengths = batch["attention_mask"].sum(dim=1).cpu().numpy()
        return [row[: int(n)] for row, n in zip(out, lengths)]

    def allows_no_answer(self, spec: Any, rows: list[dict[str, Any]]) -> bool:
        """SQuAD v2 style: the spec scores no-answer questions (no_ans_f1), else some example has no answer."""
        metrics = tuple(getattr(spec, "metrics", ()) or ())
        if metrics:
            return "no_ans_f1" in metrics
        return any(not (r["answers"] or {}).get("text") for r in rows)

    def best_answer(self, context: str, features: list[Feature], outputs: list[np.ndarray], allow_no_answer: bool) -> str:
        """The answer text for one example from the start/end logits of its windows."""
        s = self.settings
        best_score, best_text = -np.inf, ""
        null_score = np.inf
        for f, out in zip(features, outputs):
            start_logits, end_logits = out[:, 0], out[:, 1]
            cls = f["cls_index"]
            null_score = min(null_score, float(start_logits[cls] + end_logits[cls]))
            offsets = f["offsets"]
            starts = np.argsort(start_logits)[::-1][: s.n_best]
            ends = np.argsort(end_logits)[::-1][: s.n_best]
            for a in starts:
                if a >= len(offsets) or offsets[a] is None:
                    continue
                for b in ends:
                    if b >= len(offsets) or offsets[b] is None or b < a or b - a + 1 > s.max_answer_length:
                        continue
                    score = float(start_logits[a] + end_logits[b])
                    if score > best_score:
                        # Sentencepiece offsets include the word's leading space.
                        best_score, best_text = score, context[offsets[a][0] : offsets[b][1]].strip()
        if allow_no_answer and null_score > best_score + s.null_score_margin:
            return ""
        return best_text

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        rows = _as_rows(examples)
        allow_no_answer = self.allows_no_answer(spec, rows)
        by_example: dict[int, list[int]] = defaultdict(list)
        for j, f in enumerate(features):
            by_example[f["example_index"]].append(j)
        predictions = []
        for i, row in enumerate(rows):
            js = by_example.get(i, [])
            predictions.append(self.best_answer(row["context"], [features[j] for j in js], [outputs[j] for j in js], allow_no_answer))
        references = [{"text": list(r["answers"]["text"]), "answer_start": list(r["answers"]["answer_start"])} for r in rows]
        return Decoded([str(r["id"]) for r in rows], predictions, references)

    def baseline_note(self) -> str:
        return "exact match near 0"


HEAD_TYPES: dict[str, type[HeadType]] = {
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
    if name not in HEAD_TYPES:
        raise XitConfigError(f"unknown head type {name!r}; known head types: {', '.join(HEAD_TYPES)}")
    return SpanHeadType(span) if name == "span" else HEAD_TYPES[name]()


def feature_length(feature: Feature) -> int:
    """Tokens in a feature (the longest choice for multiple choice), used for length grouping."""
    ids = feature["input_ids"]
    return max(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)
