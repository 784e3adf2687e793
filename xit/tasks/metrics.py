"""English dev metrics per head type, on 0-100 scales (correlations and MCC on -100..100)."""

from __future__ import annotations

import collections
import math
import re
import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from seqeval.metrics import f1_score, precision_score, recall_score

from xit.tasks.spec import TaskSpec

#: Valid range of each metric xit reports (for checks and plots).
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 100.0), "f1": (0.0, 100.0), "precision": (0.0, 100.0), "recall": (0.0, 100.0),
    "exact_match": (0.0, 100.0), "has_ans_f1": (0.0, 100.0), "no_ans_f1": (0.0, 100.0),
    "mcc": (-100.0, 100.0), "pearson": (-100.0, 100.0), "spearman": (-100.0, 100.0),
}
#: Reference tag id that marks a position to ignore (sub-word continuations, padding), as in transformers.
IGNORE_INDEX = -100


def main_metric(spec: TaskSpec) -> str:
    """The single metric reported for a task (e.g. accuracy, f1, mcc, pearson)."""
    return spec.main_metric


# --------------------------------------------------------------------------- SQuAD (official v1.1/v2.0 normalisation)

def normalize_answer(text: str) -> str:
    """Official SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_exact(prediction: str, gold: str) -> float:
    """1.0 if the normalised strings are equal."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def squad_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised strings (both empty = 1, one empty = 0, as SQuAD v2's script)."""
    pred_toks, gold_toks = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_toks or not gold_toks:
        return float(pred_toks == gold_toks)
    common = collections.Counter(pred_toks) & collections.Counter(gold_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def _gold_texts(ref: Any) -> list[str]:
    """Reference answers as a list of texts: a canonical answers dict, a list of texts, or one text."""
    if isinstance(ref, dict):
        ref = ref["text"]
    if isinstance(ref, str):
        ref = [ref]
    texts = [t for t in ref if normalize_answer(t)]
    return texts or [""]  # no answer: only the empty prediction is right


def span_metrics(predictions: Sequence[str], references: Sequence[Any]) -> dict[str, float]:
    """EM and F1 (max over gold answers), overall and split by has-answer / no-answer, on 0-100."""
    em, f1, has = [], [], []
    for pred, ref in zip(predictions, references, strict=True):
        golds = _gold_texts(ref)
        em.append(max(squad_exact(pred or "", g) for g in golds))
        f1.append(max(squad_f1(pred or "", g) for g in golds))
        has.append(golds != [""])
    em_a, f1_a, has_a = np.array(em), np.array(f1), np.array(has, dtype=bool)

    def mean(x: np.ndarray) -> float:
        return float(100 * x.mean()) if len(x) else math.nan

    return {"exact_match": mean(em_a), "f1": mean(f1_a), "has_ans_f1": mean(f1_a[has_a]), "no_ans_f1": mean(f1_a[~has_a])}


# --------------------------------------------------------------------------- classification, regression, tagging

def _ids(values: Sequence[Any], labels: Sequence[str]) -> np.ndarray:
    """Label names or ids -> ids."""
    return np.array([labels.index(v) if isinstance(v, str) else int(v) for v in values], dtype=np.int64)


def classification_metrics(predictions: Sequence[Any], references: Sequence[Any], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy; for two labels also F1 of label 1 and Matthews correlation (all x100)."""
    pred, gold = _ids(predictions, labels), _ids(references, labels)
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} references")
    out = {"accuracy": float(100 * (pred == gold).mean())}
    if len(labels) == 2:
        tp = float(((pred == 1) & (gold == 1)).sum())
        fp = float(((pred == 1) & (gold == 0)).sum())
        fn = float(((pred == 0) & (gold == 1)).sum())
        tn = float(((pred == 0) & (gold == 0)).sum())
        out["f1"] = 100 * 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        out["mcc"] = 100 * (tp * tn - fp * fn) / denom if denom else 0.0
    return out


def regression_metrics(predictions: Sequence[float], references: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation x100 (0 if either side is constant)."""
    pred, gold = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} references")
    if len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(gold) == 0:
        return {"pearson": 0.0, "spearman": 0.0}
    return {"pearson": float(100 * stats.pearsonr(pred, gold)[0]), "spearman": float(100 * stats.spearmanr(pred, gold)[0])}


def _tag_pairs(predictions: Sequence[Sequence[Any]], references: Sequence[Sequence[Any]],
               labels: Sequence[str]) -> tuple[list[list[str]], list[list[str]]]:
    """Per-sentence tag names, dropping positions whose reference is IGNORE_INDEX."""
    preds, golds = [], []
    for p_seq, g_seq in zip(predictions, references, strict=True):
        if len(p_seq) != len(g_seq):
            raise ValueError(f"a sentence has {len(p_seq)} predicted tags for {len(g_seq)} reference tags")
        pairs = [(p, g) for p, g in zip(p_seq, g_seq, strict=True) if not (not isinstance(g, str) and int(g) == IGNORE_INDEX)]
        preds.append([p if isinstance(p, str) else labels[int(p)] for p, _ in pairs])
        golds.append([g if isinstance(g, str) else labels[int(g)] for _, g in pairs])
    return preds, golds


def tagging_metrics(predictions: Sequence[Sequence[Any]], references: Sequence[Sequence[Any]],
                    labels: Sequence[str]) -> dict[str, float]:
    """Token accuracy x100 over all scored tokens."""
    preds, golds = _tag_pairs(predictions, references, labels)
    flat_p = [t for s in preds for t in s]
    flat_g = [t for s in golds for t in s]
    return {"accuracy": float(100 * np.mean([p == g for p, g in zip(flat_p, flat_g, strict=True)])) if flat_g else math.nan}


def ner_metrics(predictions: Sequence[Sequence[Any]], references: Sequence[Sequence[Any]],
                labels: Sequence[str]) -> dict[str, float]:
    """Entity-level span F1 / precision / recall x100 with seqeval (conlleval rules, BIO tags)."""
    preds, golds = _tag_pairs(predictions, references, labels)
    return {"f1": float(100 * f1_score(golds, preds, zero_division=0)),
            "precision": float(100 * precision_score(golds, preds, zero_division=0)),
            "recall": float(100 * recall_score(golds, preds, zero_division=0))}


def compute_metrics(spec: TaskSpec, predictions: Sequence[Any], references: Sequence[Any]) -> dict[str, float]:
    """The task's metrics (`spec.metrics`) for predictions against references, 0-100 scale.

    classification / multiple_choice: label ids (or names); regression: floats; span: predicted answer
    texts ('' = no answer) against canonical ``answers`` dicts or lists of gold texts; tagging / ner:
    per-sentence tag ids (or names), reference ids of -100 ignored.
    """
    if len(predictions) != len(references):
        raise ValueError(f"task {spec.name!r}: {len(predictions)} predictions for {len(references)} references")
    if spec.head == "classification":
        out = classification_metrics(predictions, references, spec.labels)
    elif spec.head == "multiple_choice":
        out = classification_metrics(predictions, references, [str(i) for i in range(spec.num_choices or 0)])
    elif spec.head == "regression":
        out = regression_metrics(predictions, references)
    elif spec.head == "span":
        out = span_metrics(predictions, references)
    elif spec.head == "tagging":
        out = tagging_metrics(predictions, references, spec.labels)
    else:
        out = ner_metrics(predictions, references, spec.labels)
    return {name: out[name] for name in spec.metrics}
