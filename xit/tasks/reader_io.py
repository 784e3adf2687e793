"""File and label helpers shared by the task readers."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import datasets

from xit.tasks.spec import TaskSpec


def normalise_space(text: str) -> str:
    """Collapse runs of whitespace to one space and strip: the form texts are compared in."""
    return " ".join(str(text).split())



def read_tsv(path: Path, header: bool = True, encoding: str = "utf-8") -> tuple[list[str], list[list[str]]]:
    """Rows of a GLUE-style TSV read with quoting off (quotes are text, not field delimiters)."""
    with open(path, encoding=encoding, newline="") as f:
        rows = [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r]
    return (rows[0], rows[1:]) if header else ([], rows)



def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]



def label_index(spec: TaskSpec, raw: str) -> int:
    """A label given by name (``entailment``) or by its id in the spec's order (GLUE's ``0``/``1``)."""
    raw = raw.strip()
    if raw in spec.labels:
        return spec.labels.index(raw)
    idx = int(raw)
    if not 0 <= idx < len(spec.labels):
        raise ValueError(f"task {spec.name!r}: label {raw!r} out of range for {spec.labels}")
    return idx



def hub_label_names(ds: datasets.Dataset, column: str) -> list[str] | None:
    feat = ds.features[column]
    inner = getattr(feat, "feature", feat)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None
