"""Metrics on hand-built cases with known answers."""

from __future__ import annotations

import pytest

from xit.tasks import get_task
from xit.tasks.metrics import METRIC_RANGES, compute_metrics, normalize_answer, squad_f1


def test_squad_normalisation_and_f1():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert squad_f1("Tower", "Eiffel Tower") == pytest.approx(2 / 3)


def test_squad_v2_em_f1_with_no_answer():
    preds = ["the Eiffel Tower!", "Tower", "", "Paris"]
    refs = [{"text": ["Eiffel Tower", "Tower"], "answer_start": [0, 7]}, ["Eiffel Tower"],
            {"text": [], "answer_start": []}, []]
    m = compute_metrics(get_task("squad_v2"), preds, refs)
    assert m["exact_match"] == pytest.approx(50.0)  # 1, 0, 1 (empty vs no answer), 0
    assert m["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)
    assert m["has_ans_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert m["no_ans_f1"] == pytest.approx(50.0)
    assert set(compute_metrics(get_task("squad_v1"), preds[:2], refs[:2])) == {"exact_match", "f1"}


def test_ner_entity_level_f1_seqeval():
    gold = [["B-person", "I-person", "O", "B-location"], ["B-group", "O"]]
    pred = [["B-person", "I-person", "O", "O"], ["B-group", "O"]]  # 2 of 3 entities found, no false ones
    m = compute_metrics(get_task("wnut17"), pred, gold)
    assert m["precision"] == pytest.approx(100.0)
    assert m["recall"] == pytest.approx(200 / 3)
    assert m["f1"] == pytest.approx(80.0)
    spec = get_task("wnut17")
    ids = [[spec.labels.index(t) for t in s] for s in pred]  # ids give the same answer; -100 ignored
    gold_ids = [[spec.labels.index(t) for t in s] + [-100] for s in gold]
    assert compute_metrics(spec, [s + [0] for s in ids], gold_ids) == m


def test_partial_entity_is_wrong():
    m = compute_metrics(get_task("wnut17"), [["B-person", "O"]], [["B-person", "I-person"]])
    assert m["f1"] == 0.0


def test_regression_pearson_spearman():
    stsb = get_task("stsb")
    assert compute_metrics(stsb, [1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx({"pearson": 50.0, "spearman": 50.0})
    assert compute_metrics(stsb, [0.0, 1.0, 2.0], [4.0, 2.0, 0.0])["pearson"] == pytest.approx(-100.0)


def test_classification_accuracy_and_mcc():
    m = compute_metrics(get_task("cola"), [1, 1, 0, 0], [1, 0, 0, 0])
    assert m["accuracy"] == pytest.approx(75.0)
    assert m["mcc"] == pytest.approx(100 * 2 / 12 ** 0.5)  # tp=1 fp=1 fn=0 tn=2
    mrpc = compute_metrics(get_task("mrpc"), ["equivalent", "not_equivalent"], [1, 1])
    assert mrpc == pytest.approx({"accuracy": 50.0, "f1": 100 * 2 / 3})


def test_multiple_choice_and_tagging_accuracy():
    assert compute_metrics(get_task("hellaswag"), [0, 3, 2, 1], [0, 3, 1, 1]) == {"accuracy": 75.0}
    m = compute_metrics(get_task("ud_pos"), [[7, 15, 12], [1]], [[7, 15, -100], [2]])
    assert m == {"accuracy": pytest.approx(200 / 3)}


def test_main_metric_and_ranges():
    for name in ("anli", "squad_v1", "stsb", "cola", "wnut17", "ccg"):
        spec = get_task(name)
        assert spec.main_metric in spec.metrics and all(x in METRIC_RANGES for x in spec.metrics)
    assert get_task("cola").main_metric == "mcc" and get_task("wnut17").main_metric == "f1"


def test_length_mismatch_fails():
    with pytest.raises(ValueError, match="3 predictions for 2 references"):
        compute_metrics(get_task("rte"), [0, 1, 0], [0, 1])
