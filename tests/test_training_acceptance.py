"""Issue 3's acceptance, CI-sized: a multi-task run on three of the paper's tasks with three head types
(span extraction, multiple choice, tagging) beats its untrained heads on English dev by asserted margins,
and the saved encoder is evaluated on Tatoeba by the retrieval suite.

The recipe lives in ``params/train-three-heads-ci.yaml`` so the same run can be reproduced from the
command line (``python -m xit train --params params/train-three-heads-ci.yaml --out DIR``); the longer
run in ``params/train-three-heads.yaml`` is recorded in docs/training.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xit.config import load_yaml
from xit.retrieval.suite import EvalConfig, evaluate_encoder
from xit.training import TrainConfig, train

RECIPE = Path(__file__).resolve().parents[1] / "params" / "train-three-heads-ci.yaml"

#: Points (0-100) by which each trained head must beat its untrained self on the held-out split
#: (200 dev examples per task). Measured for this recipe on CPU (docs/training.md): SQuAD EM 0.0 -> 23.5,
#: F1 7.1 -> 34.6; HellaSwag 24.5 -> 30.0 (chance 25); CCG 0.2 -> 48.9.
MARGINS = {("squad_v1", "exact_match"): 10.0, ("squad_v1", "f1"): 15.0, ("hellaswag", "accuracy"): 5.0,
           ("ccg", "accuracy"): 30.0}


@pytest.fixture(scope="module")
def three_heads(e5_small, e5_small_path, tmp_path_factory):
    """The recipe's run, trained once for this module."""
    recipe = load_yaml(RECIPE)["train"]
    config = TrainConfig.from_dict({**recipe, "model": str(e5_small_path), "progress": False})
    return train(config, tmp_path_factory.mktemp("three-heads"), encoder=e5_small)


def test_three_head_types_beat_their_untrained_heads(three_heads):
    dev = three_heads.dev_metrics.pivot_table(index=["task", "metric"], columns="step", values="value")
    untrained, trained = dev[0], dev[dev.columns.max()]
    for key, margin in MARGINS.items():
        assert trained[key] >= untrained[key] + margin, (key, untrained[key], trained[key])
    assert {t for t, _ in MARGINS} == set(three_heads.task_mix["task"])
    assert (three_heads.task_mix["steps"] > 0).all()


def test_the_saved_encoder_is_evaluated_on_tatoeba(three_heads, e5_small):
    config = EvalConfig.from_dict({"targets": ["tatoeba"], "tatoeba_languages": ["deu", "cmn"],
                                   "tatoeba_max_sentences": 100, "cache": False, "progress": False})
    rows = evaluate_encoder(str(three_heads.encoder_dir), config)
    assert rows["checkpoint"].iloc[0] == str(three_heads.encoder_dir)
    acc = rows[(rows["metric"] == "accuracy") & (rows["language"] != "all")].set_index(["language", "direction"])["value"]
    assert len(acc) == 4 and set(acc.index.get_level_values("direction")) == {"xx->en", "en->xx"}
    # Measured (docs/training.md): deu 56 / 49, cmn 15 / 30 (xx->en / en->xx), against 97 / 97 and 94 / 96
    # for the untrained e5-small on the same sentences: eroded, yet a working retriever, far above chance (1 %).
    assert (acc > 10).all(), acc
    base = evaluate_encoder(e5_small, config)
    base_acc = base[(base["metric"] == "accuracy") & (base["language"] != "all")].set_index(["language", "direction"])["value"]
    assert not acc.equals(base_acc)  # the trained weights were evaluated, not the starting ones
