"""Multiple-choice readers: HellaSwag, CosmosQA, CommonsenseQA, OpenBookQA, PIQA (local files and hub rows)."""

from __future__ import annotations

import csv
from pathlib import Path

import datasets

from xit.tasks.reader_io import normalise_space, read_jsonl, read_tsv
from xit.tasks.spec import TaskSpec


def read_hellaswag_text(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """HellaSwag val in klosax's 6-line text form: 'activity: context', gold index, 4 endings; group = activity."""
    out = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines = lines[:-1]
        if len(lines) % 6:
            raise ValueError(f"HellaSwag text form: {path} has {len(lines)} lines, not a multiple of 6")
        for i in range(0, len(lines), 6):
            ctx, gold, *endings = lines[i:i + 6]
            activity = ctx.split(": ", 1)[0]
            out.append({"id": f"hellaswag-{split}-{i // 6}", "context": ctx, "question": "", "choices": endings,
                        "label": int(gold), "_group": activity})
    return out



_HELLASWAG_STRIP = [("[header]", ""), ("[step]", ""), ("[substeps]", ""), (" [title]", ". "), ("[title] ", ""), ("[title].", "")]



def _hellaswag_clean(text: str) -> str:
    """The string replacements of the offline text form, so hub rows look like local ones."""
    for old, new in _HELLASWAG_STRIP:
        text = text.replace(old, new)
    return text.strip()



def hub_hellaswag(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """Rowan/hellaswag rows: activity_label + ': ' + ctx, 4 endings, label as a string digit."""
    out = []
    for row in ds:
        if row["label"] in ("", None):
            continue
        out.append({"id": f"hellaswag-{row['ind']}", "context": _hellaswag_clean(f"{row['activity_label']}: {row['ctx']}"),
                    "question": "", "choices": [_hellaswag_clean(e) for e in row["endings"]], "label": int(row["label"])})
    return out



def read_cosmosqa_csv(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """CosmosQA CSV (quoted, multi-line fields): context, question, answer0-3, label; group = context."""
    out = []
    for path in paths:
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                out.append({"id": row["id"], "context": row["context"], "question": row["question"],
                            "choices": [row[f"answer{j}"] for j in range(4)], "label": int(row["label"]),
                            "_group": normalise_space(row["context"])})
    return out



def hub_cosmosqa(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """allenai/cosmos_qa rows."""
    return [{"id": r["id"], "context": r["context"], "question": r["question"],
             "choices": [r[f"answer{j}"] for j in range(4)], "label": int(r["label"]), "_group": normalise_space(r["context"])}
            for r in ds if int(r["label"]) >= 0]



def read_csqa_jsonl(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """CommonsenseQA JSONL: question.stem, 5 labelled choices, answerKey letter."""
    out = []
    for path in paths:
        for row in read_jsonl(path):
            choices = row["question"]["choices"]
            letters = [c["label"] for c in choices]
            out.append({"id": row["id"], "context": "", "question": row["question"]["stem"],
                        "choices": [c["text"] for c in choices], "label": letters.index(row["answerKey"])})
    return out



def hub_csqa(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """tau/commonsense_qa rows (flattened choices)."""
    return [{"id": r["id"], "context": "", "question": r["question"], "choices": list(r["choices"]["text"]),
             "label": list(r["choices"]["label"]).index(r["answerKey"])} for r in ds if r["answerKey"]]



def split_obqa_choices(text: str) -> list[str]:
    """'(A) x (B) y (C) z (D) w' -> [x, y, z, w], cutting at the first of each marker in A-D order.

    One official train row (12-1145) holds a second '(D) ' marker; its text stays inside choice D.
    """
    starts, pos = [], 0
    for letter in "ABCD":
        pos = text.find(f"({letter}) ", pos)
        if pos < 0:
            raise ValueError(f"OpenBookQA choices not in (A)-(D) form: {text!r}")
        starts.append(pos)
        pos += 4
    ends = starts[1:] + [len(text)]
    return [text[s + 4:e].strip() for s, e in zip(starts, ends, strict=True)]



def read_openbookqa_tsv(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """OpenBookQA Main TSV: ID, Question Stem, Choices in one '(A) ... (D) ...' column, Answer Key."""
    out = []
    for path in paths:
        header, rows = read_tsv(path)
        for row in rows:
            rec = dict(zip(header, row, strict=True))
            out.append({"id": rec["ID"], "context": "", "question": rec["Question Stem"],
                        "choices": split_obqa_choices(rec["Choices"]), "label": "ABCD".index(rec["Answer Key"].strip())})
    return out



def hub_openbookqa(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """allenai/openbookqa (main) rows."""
    return [{"id": r["id"], "context": "", "question": r["question_stem"], "choices": list(r["choices"]["text"]),
             "label": list(r["choices"]["label"]).index(r["answerKey"])} for r in ds]



def read_piqa(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """PIQA valid.jsonl (goal, sol1, sol2) aligned with valid-labels.lst (0 = sol1); group = goal."""
    data, labels_file = paths
    rows = read_jsonl(data)
    labels = [line.strip() for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(rows) != len(labels):
        raise ValueError(f"PIQA: {data} has {len(rows)} rows but {labels_file} has {len(labels)} labels")
    return [{"id": f"piqa-{split}-{i}", "context": "", "question": r["goal"], "choices": [r["sol1"], r["sol2"]],
             "label": int(lab), "_group": normalise_space(r["goal"])} for i, (r, lab) in enumerate(zip(rows, labels, strict=True))]



def hub_piqa(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """ybisk/piqa rows."""
    return [{"id": f"piqa-{i}", "context": "", "question": r["goal"], "choices": [r["sol1"], r["sol2"]], "label": int(r["label"])}
            for i, r in enumerate(ds) if int(r["label"]) >= 0]
