"""The span-extraction head type (SQuAD v1.1/v2.0): windowed features, start/end logits, best-span decoding."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from xit.errors import XitConfigError
from xit.tasks.head_base import (
    Decoded,
    Feature,
    HeadType,
    TokenHead,
    as_rows,
    model_inputs,
    pad_inputs,
)


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

    def build(self, spec: Any, hidden_size: int, pooling: str = "first") -> nn.Module:
        return TokenHead(hidden_size, 2)

    def windows(self, max_length: int) -> tuple[int, int]:
        """(max question tokens, doc stride) that keep every window valid for this max_length."""
        max_question = max(8, max_length // 4)
        room = max_length - max_question - 4  # CLS, SEP(s), at least one context token
        if room < 8:
            raise XitConfigError(f"max_length={max_length} is too short for span extraction; use 64 or more")
        return max_question, max(1, min(self.settings.doc_stride, room // 2))

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int, prefix: str = "") -> list[Feature]:
        rows = as_rows(examples)
        if not rows:
            return []
        max_question, stride = self.windows(max_length)
        # The prefix goes on the question (the query); answer offsets are into the context, so they stay.
        questions = self._clip_questions([prefix + r["question"].lstrip() for r in rows], tokenizer, max_question)
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
        keys = [k for k in model_inputs(tokenizer) if k in enc]
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
        rows = as_rows(examples)
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
