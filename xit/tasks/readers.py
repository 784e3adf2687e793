"""Format readers: original task files (and hub rows) -> canonical examples of docs/contracts.md.

A local reader is ``read(paths, spec, split) -> list[dict]``; examples of carved tasks carry an
extra ``_group`` key (article, context, activity ...) that `xit.tasks.loading` uses to split them and
then drops. A hub mapper is ``from_hub(dataset, spec) -> list[dict]`` and sees the hub's own features.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from xit.errors import DataNotFoundError
from xit.tasks.ccg_tags import UNKNOWN_TAG
from xit.tasks.spec import TaskSpec

#: Where the English XQuAD file lives under the data root (the SQuAD readers always exclude its paragraphs).
XQUAD_EN = "xtreme-r/xquad/xquad.en.json"

_STR = datasets.Value("string")
FEATURES: dict[str, datasets.Features] = {
    "classification": datasets.Features({"id": _STR, "text_a": _STR, "text_b": _STR, "label": datasets.Value("int64")}),
    "regression": datasets.Features({"id": _STR, "text_a": _STR, "text_b": _STR, "label": datasets.Value("float32")}),
    "span": datasets.Features({
        "id": _STR, "question": _STR, "context": _STR,
        "answers": {"text": datasets.List(_STR), "answer_start": datasets.List(datasets.Value("int32"))},
    }),
    "multiple_choice": datasets.Features({
        "id": _STR, "context": _STR, "question": _STR, "choices": datasets.List(_STR), "label": datasets.Value("int64"),
    }),
    "tagging": datasets.Features({"id": _STR, "tokens": datasets.List(_STR), "tags": datasets.List(datasets.Value("int64"))}),
}
FEATURES["ner"] = FEATURES["tagging"]


def normalise_space(text: str) -> str:
    """Collapse runs of whitespace to one space and strip: the form texts are compared in."""
    return " ".join(str(text).split())


# --------------------------------------------------------------------------- helpers

def _read_tsv(path: Path, header: bool = True, encoding: str = "utf-8") -> tuple[list[str], list[list[str]]]:
    """Rows of a GLUE-style TSV read with quoting off (quotes are text, not field delimiters)."""
    with open(path, encoding=encoding, newline="") as f:
        rows = [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r]
    return (rows[0], rows[1:]) if header else ([], rows)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _label_index(spec: TaskSpec, raw: str) -> int:
    """A label given by name (``entailment``) or by its id in the spec's order (GLUE's ``0``/``1``)."""
    raw = raw.strip()
    if raw in spec.labels:
        return spec.labels.index(raw)
    idx = int(raw)
    if not 0 <= idx < len(spec.labels):
        raise ValueError(f"task {spec.name!r}: label {raw!r} out of range for {spec.labels}")
    return idx


def _hub_label_names(ds: datasets.Dataset, column: str) -> list[str] | None:
    feat = ds.features[column]
    inner = getattr(feat, "feature", feat)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


# --------------------------------------------------------------------------- NLI (ANLI+)

_NLI_SHORT = {"e": "entailment", "n": "neutral", "c": "contradiction"}


def read_nli_jsonl(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """ANLI (``context``/``hypothesis``/``label`` e|n|c) and SNLI (``sentence1``/``sentence2``/``gold_label``) JSONL; SNLI's '-' dropped."""
    out = []
    for path in paths:
        for row in _read_jsonl(path):
            if "gold_label" in row:  # SNLI layout
                if row["gold_label"] not in spec.labels:
                    continue  # '-' = no annotator consensus
                out.append({"id": f"snli-{row['pairID']}", "text_a": row["sentence1"], "text_b": row["sentence2"],
                            "label": spec.labels.index(row["gold_label"])})
            else:  # ANLI layout: premise under "context"
                out.append({"id": f"anli-{row['uid']}", "text_a": row["context"], "text_b": row["hypothesis"],
                            "label": spec.labels.index(_NLI_SHORT[row["label"]])})
    return out


def hub_nli(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """facebook/anli, stanfordnlp/snli, glue mnli: premise/hypothesis with 0=e, 1=n, 2=c (-1 dropped)."""
    names = _hub_label_names(ds, "label") or list(spec.labels)
    out = []
    for i, row in enumerate(ds):
        if row["label"] is None or row["label"] < 0:
            continue
        rid = row.get("uid") or row.get("idx", i)
        out.append({"id": str(rid), "text_a": row["premise"], "text_b": row["hypothesis"],
                    "label": spec.labels.index(names[row["label"]])})
    return out


# --------------------------------------------------------------------------- GLUE-style pairs and singles

def read_glue_pair_tsv(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """RTE / WNLI / STS-B TSV with a header (``sentence1``, ``sentence2``, label last), quoting off."""
    out = []
    for path in paths:
        header, rows = _read_tsv(path)
        ia, ib = header.index("sentence1"), header.index("sentence2")
        for row in rows:
            raw = row[-1]
            label = float(raw) if spec.head == "regression" else _label_index(spec, raw)
            out.append({"id": f"{spec.name}-{split}-{row[0]}", "text_a": row[ia], "text_b": row[ib], "label": label})
    return out


def read_cola_tsv(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """CoLA TSV without header: source, label (1 acceptable), author's mark, sentence."""
    out = []
    for path in paths:
        _, rows = _read_tsv(path, header=False)
        for i, (_source, label, _mark, sentence) in enumerate(rows):
            out.append({"id": f"cola-{split}-{i}", "text_a": sentence, "text_b": None, "label": _label_index(spec, label)})
    return out


def read_mrpc(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """MSRP train file (BOM, quoting off) split by GLUE's dev id list: dev = the 408 listed pairs, train = the rest."""
    msr, dev_ids_file = paths
    _, id_rows = _read_tsv(dev_ids_file, header=False)
    dev_ids = {(a.strip(), b.strip()) for a, b in id_rows}
    header, rows = _read_tsv(msr, encoding="utf-8-sig")
    out = []
    for quality, id1, id2, s1, s2 in rows:
        if ((id1, id2) in dev_ids) != (split == "dev"):
            continue
        out.append({"id": f"mrpc-{id1}-{id2}", "text_a": s1, "text_b": s2, "label": _label_index(spec, quality)})
    return out


def hub_glue(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """GLUE / SuperGLUE-style rows: sentence1/sentence2 (or question1/2, or sentence) and label."""
    cols = ds.column_names
    a, b = next(((x, y) for x, y in [("sentence1", "sentence2"), ("question1", "question2"), ("sentence", None)]
                 if x in cols), ("sentence1", "sentence2"))
    names = _hub_label_names(ds, "label")
    out = []
    for i, row in enumerate(ds):
        label = row["label"]
        if spec.head == "regression":
            label = float(label)
        elif names is not None:
            if label < 0:
                continue
            label = spec.labels.index(_GLUE_NAME.get(names[label], names[label]))
        out.append({"id": f"{spec.name}-{row.get('idx', i)}", "text_a": row[a], "text_b": row[b] if b else None, "label": label})
    return out


#: Hub class names that differ from xit's label names.
_GLUE_NAME = {"False": "false", "True": "true"}


# --------------------------------------------------------------------------- WiC

def mark_target(tokens: list[str], index: int) -> str:
    """The sentence with its target token wrapped in square brackets (xit's WiC marking)."""
    return " ".join(f"[{t}]" if i == index else t for i, t in enumerate(tokens))


def read_wic(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """WiC ``*.data.txt`` (word, PoS, i1-i2, ex1, ex2; tokenised) aligned line by line with ``*.gold.txt`` (T/F)."""
    data, gold = paths
    _, rows = _read_tsv(data, header=False)
    labels = [line.strip() for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(rows) != len(labels):
        raise ValueError(f"WiC: {data} has {len(rows)} rows but {gold} has {len(labels)} labels")
    out = []
    for i, ((_word, _pos, idx, ex1, ex2), gl) in enumerate(zip(rows, labels, strict=True)):
        i1, i2 = (int(x) for x in idx.split("-"))
        out.append({"id": f"wic-{split}-{i}", "text_a": mark_target(ex1.split(" "), i1),
                    "text_b": mark_target(ex2.split(" "), i2), "label": spec.labels.index({"T": "true", "F": "false"}[gl])})
    return out


def hub_wic(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """aps/super_glue wic: character spans start1/end1, start2/end2 marked with the same brackets."""
    out = []
    for row in ds:
        if row["label"] < 0:
            continue
        s1, s2 = row["sentence1"], row["sentence2"]
        a = f"{s1[:row['start1']]}[{s1[row['start1']:row['end1']]}]{s1[row['end1']:]}"
        b = f"{s2[:row['start2']]}[{s2[row['start2']:row['end2']]}]{s2[row['end2']:]}"
        out.append({"id": f"wic-{row['idx']}", "text_a": a, "text_b": b, "label": int(row["label"])})
    return out


# --------------------------------------------------------------------------- SQuAD

def xquad_exclusions(data_root: Path) -> tuple[set[str], set[str]]:
    """Question ids and (whitespace-normalised) contexts of English XQuAD: never train or dev on these."""
    path = data_root / XQUAD_EN
    if not path.is_file():
        raise DataNotFoundError(
            f"SQuAD readers exclude XQuAD's paragraphs (LAReQA leakage guard) and need {path}; it is missing. "
            "Point XIT_DATA_DIR at the data root holding xtreme-r/xquad/xquad.en.json."
        )
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    ids, contexts = set(), set()
    for article in data:
        for para in article["paragraphs"]:
            contexts.add(normalise_space(para["context"]))
            ids.update(qa["id"] for qa in para["qas"])
    return ids, contexts


def squad_examples(articles: list[dict], exclude_ids: set[str], exclude_contexts: set[str]) -> list[dict]:
    """Flatten SQuAD v1.1/v2.0 articles, dropping every paragraph XQuAD contains (by context or by any question id)."""
    out = []
    for article in articles:
        for para in article["paragraphs"]:
            ctx = para["context"]
            if normalise_space(ctx) in exclude_contexts or any(qa["id"] in exclude_ids for qa in para["qas"]):
                continue
            for qa in para["qas"]:
                answers = [] if qa.get("is_impossible") else qa["answers"]
                out.append({"id": qa["id"], "question": qa["question"], "context": ctx,
                            "answers": {"text": [a["text"] for a in answers], "answer_start": [a["answer_start"] for a in answers]},
                            "_group": article["title"]})
    return out


def read_squad_json(paths: list[Path], spec: TaskSpec, split: str, data_root: Path | None = None) -> list[dict]:
    """SQuAD JSON files (v1.1 or v2.0) minus XQuAD's paragraphs; group = article title."""
    ids, contexts = xquad_exclusions(data_root if data_root is not None else paths[0].parents[2])
    out = []
    for path in paths:
        out.extend(squad_examples(json.loads(path.read_text(encoding="utf-8"))["data"], ids, contexts))
    return out


def hub_squad(ds: datasets.Dataset, spec: TaskSpec, exclude: tuple[set[str], set[str]] = (set(), set())) -> list[dict]:
    """rajpurkar/squad(_v2) rows (already flat) minus XQuAD's paragraphs."""
    ids, contexts = exclude
    bad_contexts = {normalise_space(r["context"]) for r in ds if r["id"] in ids} | contexts
    out = []
    for row in ds:
        if row["id"] in ids or normalise_space(row["context"]) in bad_contexts:
            continue
        out.append({"id": row["id"], "question": row["question"], "context": row["context"],
                    "answers": {"text": list(row["answers"]["text"]), "answer_start": list(row["answers"]["answer_start"])}})
    return out


# --------------------------------------------------------------------------- multiple choice

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
        for row in _read_jsonl(path):
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
        header, rows = _read_tsv(path)
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
    rows = _read_jsonl(data)
    labels = [line.strip() for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(rows) != len(labels):
        raise ValueError(f"PIQA: {data} has {len(rows)} rows but {labels_file} has {len(labels)} labels")
    return [{"id": f"piqa-{split}-{i}", "context": "", "question": r["goal"], "choices": [r["sol1"], r["sol2"]],
             "label": int(lab), "_group": normalise_space(r["goal"])} for i, (r, lab) in enumerate(zip(rows, labels, strict=True))]


def hub_piqa(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """ybisk/piqa rows."""
    return [{"id": f"piqa-{i}", "context": "", "question": r["goal"], "choices": [r["sol1"], r["sol2"]], "label": int(r["label"])}
            for i, r in enumerate(ds) if int(r["label"]) >= 0]


# --------------------------------------------------------------------------- tagging and NER

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
    names = _hub_label_names(ds, column)
    out = []
    for i, row in enumerate(ds):
        pairs = [(tok, names[t] if names else str(t)) for tok, t in zip(row["tokens"], row[column], strict=True)]
        pairs = [(tok, tag) for tok, tag in pairs if tag != "_"]  # UD multiword-token rows carry '_'
        out.append({"id": str(row.get("id", row.get("idx", i))), "tokens": [p[0] for p in pairs], "tags": [spec.label_id(p[1]) for p in pairs]})
    return out


# --------------------------------------------------------------------------- registry of readers

@dataclass(frozen=True)
class Reader:
    """A local-file reader and the hub mapper that produce the same canonical examples."""

    local: Callable[..., list[dict]]
    hub: Callable[..., list[dict]]


READERS: dict[str, Reader] = {
    "nli_jsonl": Reader(read_nli_jsonl, hub_nli),
    "glue_pair_tsv": Reader(read_glue_pair_tsv, hub_glue),
    "cola_tsv": Reader(read_cola_tsv, hub_glue),
    "mrpc_msr": Reader(read_mrpc, hub_glue),
    "wic_txt": Reader(read_wic, hub_wic),
    "squad_json": Reader(read_squad_json, hub_squad),
    "hellaswag_text": Reader(read_hellaswag_text, hub_hellaswag),
    "cosmosqa_csv": Reader(read_cosmosqa_csv, hub_cosmosqa),
    "csqa_jsonl": Reader(read_csqa_jsonl, hub_csqa),
    "openbookqa_tsv": Reader(read_openbookqa_tsv, hub_openbookqa),
    "piqa_jsonl": Reader(read_piqa, hub_piqa),
    "ccg_conll": Reader(read_ccg_conll, hub_tokens),
    "conllu_upos": Reader(read_conllu_upos, hub_tokens),
    "wnut_conll": Reader(read_wnut_conll, hub_tokens),
}
