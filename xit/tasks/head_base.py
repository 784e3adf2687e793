"""The parts every head type shares: features, padding, pooled and token heads, the HeadType interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from xit.tasks.metrics import IGNORE_INDEX

Feature = dict[str, Any]


def as_rows(examples: Iterable[dict[str, Any]] | Any) -> list[dict[str, Any]]:
    """Canonical examples as a list of dicts (accepts a datasets.Dataset or any iterable of dicts)."""
    return [dict(ex) for ex in examples]

def decode_argmax(examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
    """One prediction per example: the argmax of its feature's logits (classes or choices)."""
    rows = as_rows(examples)
    preds = {f["example_index"]: int(np.argmax(out)) for f, out in zip(features, outputs)}
    return Decoded([str(r["id"]) for r in rows], [preds[i] for i in range(len(rows))], [int(r["label"]) for r in rows])



def model_inputs(tokenizer: Any) -> list[str]:
    """The encoder inputs a tokenizer produces (input_ids, attention_mask, token_type_ids when it has them)."""
    return [name for name in tokenizer.model_input_names if name in ("input_ids", "attention_mask", "token_type_ids")]


def pad_inputs(tokenizer: Any, rows: list[dict[str, list[int]]], pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Pad token sequences to the longest in the batch (dynamic padding) or to ``pad_to`` tokens."""
    keys = [k for k in model_inputs(tokenizer) if k in rows[0]]
    padded = tokenizer.pad(
        [{k: row[k] for k in keys} for row in rows],
        padding="max_length" if pad_to else "longest",
        max_length=pad_to,
        return_tensors="pt",
    )
    return {k: padded[k] for k in keys}


def pad_label_rows(rows: list[list[int]], width: int) -> torch.Tensor:
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
