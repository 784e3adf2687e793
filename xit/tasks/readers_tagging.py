"""Tagging and NER readers: CCG supertags, UD POS, WNUT-17 (CoNLL-style files and hub rows)."""

from __future__ import annotations

from pathlib import Path

import datasets

from xit.tasks.ccg_tags import UNKNOWN_TAG
from xit.tasks.reader_io import hub_label_names
from xit.tasks.spec import TaskSpec


def _blocks(path: Path) -> list[list[str]]:
    """Blank-line (or whitespace-only line) separated blocks of lines."""
    blocks, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    blocks.append(cur)
                cur = []
            else:
                cur.append(line)
    if cur:
        blocks.append(cur)
    return blocks



def read_ccg_conll(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """PMB 4.0.0 gold conll: comment lines '#', 7 tab columns, supertag in column 5; unseen tags -> '<unk>'."""
    unk = spec.labels.index(UNKNOWN_TAG)
    index = {t: i for i, t in enumerate(spec.labels)}
    out = []
    for path in paths:
        for block in _blocks(path):
            rows = [line.split("\t") for line in block if not line.startswith("#")]
            if not rows:
                continue
            out.append({"id": f"ccg-{split}-{len(out)}", "tokens": [r[0] for r in rows],
                        "tags": [index.get(r[4], unk) for r in rows]})
    return out



def read_conllu_upos(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """CoNLL-U: FORM and UPOS per word; multiword-token lines (3-4) and empty nodes (8.1) skipped."""
    out = []
    for path in paths:
        for block in _blocks(path):
            sent_id, tokens, tags = None, [], []
            for line in block:
                if line.startswith("#"):
                    if line.startswith("# sent_id = "):
                        sent_id = line[len("# sent_id = "):].strip()
                    continue
                cols = line.split("\t")
                if "-" in cols[0] or "." in cols[0]:
                    continue
                tokens.append(cols[1])
                tags.append(spec.label_id(cols[3]))
            if tokens:
                out.append({"id": sent_id or f"{spec.name}-{split}-{len(out)}", "tokens": tokens, "tags": tags})
    return out



def read_wnut_conll(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """WNUT-17: 'token<TAB>tag' lines, any whitespace-only line ends a sentence (the train file uses '\\t')."""
    out = []
    for path in paths:
        for block in _blocks(path):
            rows = [line.split("\t") for line in block]
            out.append({"id": f"wnut17-{split}-{len(out)}", "tokens": [r[0] for r in rows],
                        "tags": [spec.label_id(r[-1].strip()) for r in rows]})
    return out



def hub_tokens(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """universal_dependencies (tokens/upos) and leondz/wnut_17 (tokens/ner_tags): tag ids remapped by name."""
    column = "upos" if "upos" in ds.column_names else "ner_tags"
    names = hub_label_names(ds, column)
    out = []
    for i, row in enumerate(ds):
        pairs = [(tok, names[t] if names else str(t)) for tok, t in zip(row["tokens"], row[column], strict=True)]
        pairs = [(tok, tag) for tok, tag in pairs if tag != "_"]  # UD multiword-token rows carry '_'
        out.append({"id": str(row.get("id", row.get("idx", i))), "tokens": [p[0] for p in pairs], "tags": [spec.label_id(p[1]) for p in pairs]})
    return out
