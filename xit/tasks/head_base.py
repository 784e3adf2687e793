"""The parts every head type shares: features, padding, pooled and token heads, the HeadType interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from xit.errors import XitConfigError
from xit.tasks.metrics import IGNORE_INDEX

Feature = dict[str, Any]

#: How pooled heads (classification, regression, multiple choice) read the encoder's last hidden state:
#: the first token (jiant's and XLM-R's CLS head) or the mean over non-padding tokens (e5's own pooling).
POOLINGS = ("first", "mean")

#: Which of the encoder's prefixes training texts get ("query: "/"passage: " for e5 models, "" otherwise).
INPUT_PREFIXES = ("none", "query", "passage")


def prefix_text(input_prefix: str, encoder: Any) -> str:
    """The text prepended to training inputs for an ``input_prefix`` option, from the encoder's own prefixes."""
    if input_prefix not in INPUT_PREFIXES:
        raise XitConfigError(f"input_prefix={input_prefix!r} is not valid. Choose one of: {', '.join(INPUT_PREFIXES)}")
    if input_prefix == "none":
        return ""
    return str(getattr(encoder, f"{input_prefix}_prefix", "") or "")


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


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of (batch, seq, hidden) over the positions the attention mask keeps (e5's average_pool)."""
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


class PooledHead(nn.Module):
    """Pooling (first token, or mean over non-padding tokens), dense + tanh, then a linear output.

    First-token pooling is the RoBERTa/XLM-R classification head (and jiant's); mean pooling is how
    e5 (arXiv 2402.05672) pools its sentence embeddings. The pooling has no parameters, so a head's
    state dict is the same for both.
    """

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float = 0.1, pooling: str = "first"):
        super().__init__()
        if pooling not in POOLINGS:
            raise XitConfigError(f"head_pooling={pooling!r} is not valid. Choose one of: {', '.join(POOLINGS)}")
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, num_outputs)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, seq, hidden) [+ (batch, seq) mask for mean pooling] -> (batch, num_outputs)."""
        if self.pooling == "mean":
            if attention_mask is None:
                raise XitConfigError("mean pooling needs the batch's attention_mask; pass it to PooledHead")
            pooled = masked_mean(hidden, attention_mask)
        else:
            pooled = hidden[:, 0]
        x = self.dropout(pooled)
        x = torch.tanh(self.dense(x))
        return self.out(self.dropout(x))

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}"


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

    def build(self, spec: Any, hidden_size: int, pooling: str = "first") -> nn.Module:
        """The head module for a task (``pooling``, one of POOLINGS, applies to pooled heads only)."""
        raise NotImplementedError

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int, prefix: str = "") -> list[Feature]:
        """Tokenize canonical examples into unpadded features, ``prefix`` prepended to each first text."""
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
