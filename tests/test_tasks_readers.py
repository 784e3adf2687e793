"""Every offline task read from the shared data: counts, labels and schema as SOURCES*.md state them."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from xit.tasks import get_task, load_task_split, resolve_pool
from xit.tasks.readers import FEATURES, normalise_space
from xit.tasks.readers_choice import split_obqa_choices


@pytest.fixture(scope="module")
def splits(data_dir):
    """(train, dev) of all 17 offline tasks, read once from the local files."""
    return {n: (load_task_split(n, "train", source="local", data_dir=data_dir),
                load_task_split(n, "dev", source="local", data_dir=data_dir)) for n in resolve_pool("all-offline")}


def _labels(ds) -> Counter:
    return Counter(ds["label"])


# Counts stated in the SOURCES files (train, dev) for tasks with an official split.
OFFICIAL = {
    "commonsenseqa": (9741, 1221), "ccg": (7745, 1174), "rte": (2490, 277), "mrpc": (3668, 408),
    "cola": (8551, 1043), "stsb": (5749, 1500), "wnli": (635, 71), "wic": (5428, 638), "ud_pos": (12544, 2001),
    "wnut17": (3394, 1009), "openbookqa": (4957, 500), "squad_v2": (4719, None),
}
# Dev-only tasks: carved train + held-out dev together = this many examples.
CARVED_TOTAL = {"squad_v1": 10570 - 1190, "hellaswag": 10042, "cosmosqa": 2985, "piqa": 1838}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_split_counts(splits, name):
    train, dev = splits[name]
    want_train, want_dev = OFFICIAL[name]
    assert len(train) == want_train
    if want_dev is not None:
        assert len(dev) == want_dev


@pytest.mark.parametrize("name", sorted(CARVED_TOTAL))
def test_carved_counts_and_share(splits, name):
    train, dev = splits[name]
    assert len(train) + len(dev) == CARVED_TOTAL[name]
    assert 0.15 <= len(dev) / CARVED_TOTAL[name] <= (0.3 if name == "squad_v1" else 0.21)
    assert not set(train["id"]) & set(dev["id"])


@pytest.mark.parametrize("name", resolve_pool("all-offline"))
def test_schema_and_label_range(splits, name):
    spec = get_task(name)
    for ds in splits[name]:
        assert ds.features == FEATURES[spec.head]
        if spec.head == "classification":
            assert set(ds["label"]) <= set(range(len(spec.labels)))
        elif spec.head == "multiple_choice":
            assert {len(c) for c in ds["choices"]} == {spec.num_choices}
            assert set(ds["label"]) <= set(range(spec.num_choices))
        elif spec.head in ("tagging", "ner"):
            assert all(len(t) == len(g) > 0 for t, g in zip(ds["tokens"], ds["tags"], strict=True))
            assert {t for g in ds["tags"] for t in g} <= set(range(len(spec.labels)))


def test_nli_anli_plus(splits):
    train, dev = splits["anli"]
    assert len(dev) == 3200 and len(train) == 3200 + 9842 + 128  # ANLI test + SNLI dev with gold + SNLI head
    assert _labels(dev) == Counter({0: 334 + 334 + 402, 1: 333 + 333 + 402, 2: 333 + 333 + 396})
    assert sum(i.startswith("snli-") for i in train["id"]) == 9842 + 128
    assert not {i for i in dev["id"] if i.startswith("snli-")}


def test_label_distributions(splits):
    assert _labels(splits["rte"][0]) == Counter({0: 1249, 1: 1241})
    assert _labels(splits["cola"][0]) == Counter({1: 6023, 0: 2528})
    assert _labels(splits["mrpc"][0])[1] + _labels(splits["mrpc"][1])[1] == 2753
    assert _labels(splits["wic"][0]) == Counter({0: 2714, 1: 2714}) and _labels(splits["wic"][1]) == Counter({0: 319, 1: 319})
    assert _labels(splits["commonsenseqa"][1]) == Counter({0: 239, 1: 255, 2: 241, 3: 251, 4: 235})
    hs = _labels(splits["hellaswag"][0]) + _labels(splits["hellaswag"][1])
    assert hs == Counter({0: 2515, 1: 2485, 2: 2584, 3: 2458})
    cq = _labels(splits["cosmosqa"][0]) + _labels(splits["cosmosqa"][1])
    assert cq == Counter({0: 744, 1: 729, 2: 761, 3: 751})
    assert _labels(splits["piqa"][0]) + _labels(splits["piqa"][1]) == Counter({0: 910, 1: 928})
    stsb = splits["stsb"][0]["label"]
    assert min(stsb) == 0.0 and max(stsb) == 5.0


def test_token_counts_and_tags(splits):
    tokens = {n: tuple(sum(map(len, ds["tokens"])) for ds in splits[n]) for n in ("ccg", "wnut17")}
    assert tokens == {"ccg": (50408, 7368), "wnut17": (62730, 15733)}
    ccg = get_task("ccg")
    unk = ccg.labels.index("<unk>")
    assert not any(unk in t for t in splits["ccg"][0]["tags"])  # the tag set is train's
    assert 0 < sum(t.count(unk) for t in splits["ccg"][1]["tags"]) < 50
    wnut_tags = {get_task("wnut17").labels[t] for g in splits["wnut17"][0]["tags"] for t in g}
    assert len(wnut_tags) == 13
    ud = get_task("ud_pos")
    assert {ud.labels[t] for g in splits["ud_pos"][0]["tags"] for t in g} == set(ud.labels)
    # CoNLL-U: 204,577 word lines in train; the 37 empty nodes (8.1) and multiword lines (3-4 don't) are skipped
    ud_train = splits["ud_pos"][0]["tokens"]
    assert sum(map(len, ud_train)) == 204577
    assert not any("don't" in t for t in ud_train) and any("n't" in t for t in ud_train)
    assert splits["ud_pos"][0]["id"][0].startswith("weblog-")  # ids from '# sent_id'


def test_wic_marks_target_in_both_sentences(splits):
    ex = splits["wic"][0][0]
    assert ex["text_a"] == "You must [carry] your camping gear ."
    assert ex["text_b"] == "Sound [carries] well over water ."


def test_mrpc_dev_is_glue_dev_ids(splits, data_dir):
    lines = (data_dir / "tasks-extra/mrpc/mrpc_dev_ids.tsv").read_text().splitlines()
    ids = {f"mrpc-{a}-{b}" for a, b in (ln.split("\t") for ln in lines if ln.strip())}
    assert set(splits["mrpc"][1]["id"]) == ids
    assert not ids & set(splits["mrpc"][0]["id"])


def test_openbookqa_choice_column_split():
    assert split_obqa_choices("(A) a b (B) c (C) d, e (D) f") == ["a b", "c", "d, e", "f"]
    # official train row 12-1145 has a second (D) marker: it stays inside choice D
    assert split_obqa_choices("(A) x (B) y (C) z (D) w (D) v") == ["x", "y", "z", "w (D) v"]


def test_squad_excludes_every_xquad_paragraph(splits, data_dir):
    xquad = json.loads((data_dir / "xtreme-r/xquad/xquad.en.json").read_text(encoding="utf-8"))["data"]
    ids = {qa["id"] for a in xquad for p in a["paragraphs"] for qa in p["qas"]}
    contexts = {normalise_space(p["context"]) for a in xquad for p in a["paragraphs"]}
    assert len(ids) == 1190 and len(contexts) == 240
    for name in ("squad_v1", "squad_v2"):
        for ds in splits[name]:
            assert not ids & set(ds["id"])
            assert not contexts & {normalise_space(c) for c in ds["context"]}
    # v2 dev: exactly the questions of paragraphs outside XQuAD remain
    v2 = json.loads((data_dir / "tasks/squad_v2/dev-v2.0.16articles.official-ids.json").read_text(encoding="utf-8"))["data"]
    kept = sum(len(p["qas"]) for a in v2 for p in a["paragraphs"] if normalise_space(p["context"]) not in contexts)
    assert len(splits["squad_v2"][1]) == kept < 6078
    assert sum(not a["text"] for a in splits["squad_v2"][0]["answers"]) == 348  # unanswerable train questions
    # squad_v1 holds out v2's 16 dev articles: no squad_v1 training paragraph is in squad_v2's dev
    v2_dev_contexts = set(splits["squad_v2"][1]["context"])
    assert not set(splits["squad_v1"][0]["context"]) & v2_dev_contexts
    assert v2_dev_contexts & set(splits["squad_v1"][1]["context"])


@pytest.mark.parametrize("name,group", [("squad_v1", "context"), ("cosmosqa", "context"), ("piqa", "question"),
                                        ("hellaswag", "activity")])
def test_carving_disjoint_by_group(splits, name, group):
    def key(ex):
        return ex["context"].split(": ", 1)[0] if group == "activity" else normalise_space(ex[group])
    train, dev = splits[name]
    assert not {key(e) for e in train} & {key(e) for e in dev}


def test_carving_and_cap_are_deterministic(splits, data_dir):
    full_dev = splits["hellaswag"][1]
    again = load_task_split("hellaswag", "dev", source="local", data_dir=data_dir)
    assert again["id"] == full_dev["id"]
    capped = load_task_split("hellaswag", "dev", max_examples=50, source="local", data_dir=data_dir)
    assert len(capped) == 50 and set(capped["id"]) <= set(full_dev["id"])  # the cap never moves the carve
    assert capped["id"] == load_task_split("hellaswag", "dev", max_examples=50, source="local", data_dir=data_dir)["id"]
    train_cap = load_task_split("squad_v1", "train", max_examples=200, source="local", data_dir=data_dir)
    assert len(train_cap) == 200 and set(train_cap["id"]) <= set(splits["squad_v1"][0]["id"])
    assert len(set(train_cap["context"])) > 20  # a sample across articles, not a prefix of one
