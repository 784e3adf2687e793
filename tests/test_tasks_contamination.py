"""The leakage guard: raw SQuAD v1.1 dev vs LAReQA is refused; the filtered reader output passes."""

from __future__ import annotations

import json
import logging

import pytest

from xit.errors import XitConfigError
from xit.tasks import load_task_split
from xit.tasks.contamination import ContaminationError, check_contamination, target_texts, texts_of


@pytest.fixture(scope="module")
def raw_squad_dev_texts(data_dir) -> list[str]:
    """Contexts and questions of the unfiltered SQuAD v1.1 dev file, read directly."""
    data = json.loads((data_dir / "tasks/squad_v1/dev-v1.1.json").read_text(encoding="utf-8"))["data"]
    out = []
    for article in data:
        for para in article["paragraphs"]:
            out.append(para["context"])
            out.extend(qa["question"] for qa in para["qas"])
    return out


def test_target_texts(data_dir):
    lareqa = target_texts("lareqa", data_dir)
    assert len(lareqa) > 240 + 1000  # 240 contexts, 1,180 sentences, 1,190 questions (some coincide)
    bucc = target_texts("bucc", data_dir)
    assert "In response, Sunni sheiks banded together to drive insurgents from Ramadi." in bucc
    assert not any(t.startswith("en-0") for t in bucc)  # the id column is not text
    assert target_texts("mewslix", data_dir) == set()
    with pytest.raises(XitConfigError, match="target='xnli' is not valid"):
        target_texts("xnli", data_dir)


def test_raw_squad_dev_is_refused_against_lareqa(raw_squad_dev_texts, data_dir):
    found = check_contamination({"squad_v1": raw_squad_dev_texts}, ["lareqa", "bucc"], policy="warn", data_dir=data_dir)
    n = found[("squad_v1", "lareqa")]
    assert n >= 240  # at least every XQuAD paragraph
    assert ("squad_v1", "bucc") not in found
    with pytest.raises(ContaminationError, match=rf"task 'squad_v1' shares {n} text\(s\) with target 'lareqa'"):
        check_contamination({"squad_v1": raw_squad_dev_texts}, ["lareqa"], data_dir=data_dir)


def test_filtered_squad_passes(data_dir):
    texts = [t for split in ("train", "dev") for t in texts_of(load_task_split("squad_v1", split, source="local", data_dir=data_dir))]
    assert check_contamination({"squad_v1": texts}, ["lareqa"], data_dir=data_dir) == {}


def test_warn_policy_logs_and_per_target_policy(raw_squad_dev_texts, data_dir, caplog):
    tatoeba_line = "Pyongyang is the capital of North Korea."  # an English Tatoeba sentence, also in RTE
    tasks = {"squad_v1": raw_squad_dev_texts, "rte": [tatoeba_line, "Nothing  like   this is there."]}
    with caplog.at_level(logging.WARNING):
        found = check_contamination(tasks, ["lareqa", "tatoeba"], policy="warn", data_dir=data_dir)
    assert found[("rte", "tatoeba")] == 1
    assert "task 'rte' shares 1 text(s) with target 'tatoeba'" in caplog.text
    # refuse LAReQA leakage, only warn about Tatoeba's short English sentences
    with pytest.raises(ContaminationError) as err:
        check_contamination(tasks, ["lareqa", "tatoeba"], policy={"lareqa": "error", "tatoeba": "warn"}, data_dir=data_dir)
    assert "'lareqa'" in str(err.value) and "'tatoeba'" not in str(err.value)
    with pytest.raises(XitConfigError, match="policy='ignore' is not valid"):
        check_contamination(tasks, ["lareqa"], policy="ignore", data_dir=data_dir)


def test_short_texts_do_not_count(data_dir):
    # '1' is a candidate "sentence" in XQuAD-R; under min_words (3) it is not leakage
    assert check_contamination({"openbookqa": ["1"]}, ["lareqa"], data_dir=data_dir) == {}
    assert check_contamination({"openbookqa": ["1"]}, ["lareqa"], policy="warn", data_dir=data_dir, min_words=1) == {("openbookqa", "lareqa"): 1}
