"""Format readers: original task files (and hub rows) -> canonical examples of docs/contracts.md.

A local reader is ``read(paths, spec, split) -> list[dict]``; examples of carved tasks carry an
extra ``_group`` key (article, context, activity ...) that `xit.tasks.loading` uses to split them and
then drops. A hub mapper is ``from_hub(dataset, spec) -> list[dict]`` and sees the hub's own features.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets

from xit.errors import DataNotFoundError
from xit.tasks.reader_io import (
    hub_label_names,
    label_index,
    normalise_space,
    read_jsonl,
    read_tsv,
)
from xit.tasks.readers_choice import (
    hub_cosmosqa,
    hub_csqa,
    hub_hellaswag,
    hub_openbookqa,
    hub_piqa,
    read_cosmosqa_csv,
    read_csqa_jsonl,
    read_hellaswag_text,
    read_openbookqa_tsv,
    read_piqa,
)
from xit.tasks.readers_tagging import (
    hub_tokens,
    read_ccg_conll,
    read_conllu_upos,
    read_wnut_conll,
)
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



_NLI_SHORT = {"e": "entailment", "n": "neutral", "c": "contradiction"}



def read_nli_jsonl(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """ANLI (``context``/``hypothesis``/``label`` e|n|c) and SNLI (``sentence1``/``sentence2``/``gold_label``) JSONL; SNLI's '-' dropped."""
    out = []
    for path in paths:
        for row in read_jsonl(path):
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
    names = hub_label_names(ds, "label") or list(spec.labels)
    out = []
    for i, row in enumerate(ds):
        if row["label"] is None or row["label"] < 0:
            continue
        rid = row.get("uid") or row.get("idx", i)
        out.append({"id": str(rid), "text_a": row["premise"], "text_b": row["hypothesis"],
                    "label": spec.labels.index(names[row["label"]])})
    return out



def read_glue_pair_tsv(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """RTE / WNLI / STS-B TSV with a header (``sentence1``, ``sentence2``, label last), quoting off."""
    out = []
    for path in paths:
        header, rows = read_tsv(path)
        ia, ib = header.index("sentence1"), header.index("sentence2")
        for row in rows:
            raw = row[-1]
            label = float(raw) if spec.head == "regression" else label_index(spec, raw)
            out.append({"id": f"{spec.name}-{split}-{row[0]}", "text_a": row[ia], "text_b": row[ib], "label": label})
    return out



def read_cola_tsv(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """CoLA TSV without header: source, label (1 acceptable), author's mark, sentence."""
    out = []
    for path in paths:
        _, rows = read_tsv(path, header=False)
        for i, (_source, label, _mark, sentence) in enumerate(rows):
            out.append({"id": f"cola-{split}-{i}", "text_a": sentence, "text_b": None, "label": label_index(spec, label)})
    return out



def read_mrpc(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """MSRP train file (BOM, quoting off) split by GLUE's dev id list: dev = the 408 listed pairs, train = the rest."""
    msr, dev_ids_file = paths
    _, id_rows = read_tsv(dev_ids_file, header=False)
    dev_ids = {(a.strip(), b.strip()) for a, b in id_rows}
    header, rows = read_tsv(msr, encoding="utf-8-sig")
    out = []
    for quality, id1, id2, s1, s2 in rows:
        if ((id1, id2) in dev_ids) != (split == "dev"):
            continue
        out.append({"id": f"mrpc-{id1}-{id2}", "text_a": s1, "text_b": s2, "label": label_index(spec, quality)})
    return out



def hub_glue(ds: datasets.Dataset, spec: TaskSpec) -> list[dict]:
    """GLUE / SuperGLUE-style rows: sentence1/sentence2 (or question1/2, or sentence) and label."""
    cols = ds.column_names
    a, b = next(((x, y) for x, y in [("sentence1", "sentence2"), ("question1", "question2"), ("sentence", None)]
                 if x in cols), ("sentence1", "sentence2"))
    names = hub_label_names(ds, "label")
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



def mark_target(tokens: list[str], index: int) -> str:
    """The sentence with its target token wrapped in square brackets (xit's WiC marking)."""
    return " ".join(f"[{t}]" if i == index else t for i, t in enumerate(tokens))



def read_wic(paths: list[Path], spec: TaskSpec, split: str) -> list[dict]:
    """WiC ``*.data.txt`` (word, PoS, i1-i2, ex1, ex2; tokenised) aligned line by line with ``*.gold.txt`` (T/F)."""
    data, gold = paths
    _, rows = read_tsv(data, header=False)
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
