"""Hub code path without the hub: real local rows re-laid out as the hub's columns must map to the same examples."""

from __future__ import annotations

import json

import datasets
import pytest

from xit.tasks import get_task, load_task_split
from xit.tasks import loading


def _fake_hub(monkeypatch, tables: dict[tuple[str, str | None, str], datasets.Dataset]) -> list:
    calls = []

    def load_dataset(hub_id, config=None, split=None):
        calls.append((hub_id, config, split))
        return tables[(hub_id, config, split)]

    monkeypatch.setattr(loading.datasets, "load_dataset", load_dataset)
    return calls


def test_glue_rte_hub_rows_match_local(monkeypatch, data_dir):
    local = load_task_split("rte", "dev", source="local", data_dir=data_dir)
    names = ["entailment", "not_entailment"]
    hub = datasets.Dataset.from_dict(
        {"sentence1": local["text_a"], "sentence2": local["text_b"], "label": local["label"], "idx": list(range(len(local)))},
        features=datasets.Features({"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=names), "idx": datasets.Value("int32")}))
    calls = _fake_hub(monkeypatch, {("nyu-mll/glue", "rte", "validation"): hub})
    got = load_task_split("rte", "dev", source="hub", data_dir=data_dir)
    assert calls == [("nyu-mll/glue", "rte", "validation")]
    assert got["label"] == local["label"] and got["text_a"] == local["text_a"]


def test_anli_plus_hub_concatenates_sources_with_unique_ids(monkeypatch, data_dir):
    feats = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                               "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])})
    snli = datasets.Dataset.from_dict({"premise": ["A dog runs.", "A cat."], "hypothesis": ["An animal runs.", "?"],
                                       "label": [0, -1]}, features=datasets.Features({**feats, "label": datasets.Value("int64")}))
    anli = datasets.Dataset.from_dict({"premise": ["P"], "hypothesis": ["H"], "label": [2]}, features=feats)
    tables = {("facebook/anli", None, f"train_r{r}"): anli for r in (1, 2, 3)}
    tables |= {("stanfordnlp/snli", None, "train"): snli, ("nyu-mll/glue", "mnli", "train"): anli}
    _fake_hub(monkeypatch, tables)
    got = load_task_split("anli", "train", source="hub", data_dir=data_dir)
    assert len(got) == 5  # 3 ANLI rounds + 1 SNLI (label -1 dropped) + 1 MNLI
    assert len(set(got["id"])) == 5 and got["label"] == [2, 2, 2, 0, 2]


def test_wnut_hub_tags_remapped_by_name(monkeypatch, data_dir):
    local = load_task_split("wnut17", "dev", max_examples=100, source="local", data_dir=data_dir)
    spec = get_task("wnut17")
    hub_names = sorted(spec.labels)  # a different id order on the hub side: names decide
    hub = datasets.Dataset.from_dict(
        {"id": local["id"], "tokens": local["tokens"],
         "ner_tags": [[hub_names.index(spec.labels[t]) for t in tags] for tags in local["tags"]]},
        features=datasets.Features({"id": datasets.Value("string"), "tokens": datasets.List(datasets.Value("string")),
                                    "ner_tags": datasets.List(datasets.ClassLabel(names=hub_names))}))
    _fake_hub(monkeypatch, {("leondz/wnut_17", None, "validation"): hub})
    assert load_task_split("wnut17", "dev", source="hub", data_dir=data_dir)["tags"] == local["tags"]


def test_wic_hub_marks_like_local(monkeypatch, data_dir):
    local = load_task_split("wic", "dev", max_examples=20, source="local", data_dir=data_dir)
    rows = {k: [] for k in ("word", "sentence1", "sentence2", "start1", "end1", "start2", "end2", "idx", "label")}
    for i, ex in enumerate(local):
        rows["word"].append("")
        rows["idx"].append(i)
        rows["label"].append(ex["label"])
        for key, text in (("1", ex["text_a"]), ("2", ex["text_b"])):
            start = text.index("[")
            plain = text.replace("[", "", 1).replace("]", "", 1)
            rows[f"sentence{key}"].append(plain)
            rows[f"start{key}"].append(start)
            rows[f"end{key}"].append(text.index("]") - 1)
    _fake_hub(monkeypatch, {("aps/super_glue", "wic", "validation"): datasets.Dataset.from_dict(rows)})
    got = load_task_split("wic", "dev", source="hub", data_dir=data_dir)
    assert got["text_a"] == local["text_a"] and got["text_b"] == local["text_b"]


def test_squad_hub_rows_also_exclude_xquad(monkeypatch, data_dir):
    raw = json.loads((data_dir / "tasks/squad_v1/dev-v1.1.json").read_text(encoding="utf-8"))["data"][:2]
    flat = [{"id": qa["id"], "title": a["title"], "context": p["context"], "question": qa["question"],
             "answers": {"text": [x["text"] for x in qa["answers"]], "answer_start": [x["answer_start"] for x in qa["answers"]]}}
            for a in raw for p in a["paragraphs"] for qa in p["qas"]]
    _fake_hub(monkeypatch, {("rajpurkar/squad", None, "validation"): datasets.Dataset.from_list(flat)})
    got = load_task_split("squad_v1", "dev", source="hub", data_dir=data_dir)
    xquad = json.loads((data_dir / "xtreme-r/xquad/xquad.en.json").read_text(encoding="utf-8"))["data"]
    xq_ids = {qa["id"] for a in xquad for p in a["paragraphs"] for qa in p["qas"]}
    assert len(got) == sum(r["id"] not in xq_ids for r in flat) < len(flat)
    assert not set(got["id"]) & xq_ids


def test_hub_failure_offline_names_both_places(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(loading.datasets, "load_dataset", offline)
    from xit.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError, match=rf"xit looked for {tmp_path}/tasks-extra/rte.*hub load failed too: ConnectionError"):
        load_task_split("rte", "train", data_dir=tmp_path)
