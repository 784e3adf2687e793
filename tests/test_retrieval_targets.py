"""The target registry: built-in specs, immutability, and a toy target registered and evaluated end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from xit.analysis.results import HEADLINE_METRIC
from xit.errors import XitConfigError
from xit.retrieval import data as rdata
from xit.retrieval.evaluators import evaluate_bitext_accuracy
from xit.retrieval.suite import (
    ROW_COLUMNS,
    EvalConfig,
    evaluate_encoder,
    plan_evaluation,
)
from xit.retrieval.targets import TARGETS, TargetSpec, get_target, target_names
from xit.tasks.contamination import target_texts


def test_builtin_targets_carry_their_metadata():
    assert target_names() == ("tatoeba", "bucc", "bucc-tatoeba", "lareqa", "mewslix")
    assert HEADLINE_METRIC == {"tatoeba": "accuracy", "bucc": "f1", "bucc-tatoeba": "f1", "lareqa": "map@20", "mewslix": "map@20"}
    tatoeba = get_target("tatoeba")
    assert tatoeba.language_sets["xtreme36"] == tuple(rdata.XTREME36) and len(tatoeba.language_sets["xtremer41"]) == 41
    assert any("2003.11080" in c for c in tatoeba.citation) and any("Artetxe" in c for c in tatoeba.citation)
    assert any("2104.07412" in c for c in get_target("mewslix").citation)
    assert any("Zweigenbaum" in c for c in get_target("bucc").citation) and "f1_oracle" in get_target("bucc").metrics
    assert any("Roy et al. 2020" in c for c in get_target("lareqa").citation)
    assert get_target("lareqa").language_sets["all"] == rdata.XQUAD_R_LANGUAGES
    with pytest.raises(XitConfigError, match="unknown retrieval target 'tatoba'.*Did you mean 'tatoeba'"):
        get_target("tatoba")
    with pytest.raises(XitConfigError, match="headline metric 'mrr' is not among its metrics"):
        TargetSpec(name="x", label="x", data_location="-", loader=list, evaluator=evaluate_bitext_accuracy, languages=(),
                   metrics=("accuracy",), headline_metric="mrr", directions=(), citation=(), license="-")


def test_contamination_texts_come_from_the_specs(data_dir):
    # bucc-tatoeba is built from Tatoeba, so it contributes exactly Tatoeba's English sides.
    assert target_texts("bucc-tatoeba", data_dir) == target_texts("tatoeba", data_dir)


def _toy_spec(folder: Path) -> TargetSpec:
    """A tiny German-English bitext in its own files, evaluated by the Tatoeba evaluator."""

    def load(plan) -> list[rdata.TatoebaPair]:
        src = (folder / "toy.deu").read_text(encoding="utf-8").splitlines()
        eng = (folder / "toy.eng").read_text(encoding="utf-8").splitlines()
        return [rdata.TatoebaPair("deu", src, eng)]

    return TargetSpec(
        name="toy-deu", label="Toy bitext", data_location=str(folder), loader=load, evaluator=evaluate_bitext_accuracy,
        languages=("deu",), metrics=("accuracy",), headline_metric="accuracy", directions=("xx->en", "en->xx"),
        citation=("first Tatoeba deu-eng lines (Artetxe & Schwenk 2019)",), license="CC BY 2.0 FR",
        check=lambda config, root: ("deu",), needs_data_root=lambda config: False, split="toy",
    )


def test_a_registered_toy_target_evaluates_end_to_end(e5_small, data_dir, tmp_path):
    pair = rdata.load_tatoeba("deu", data_dir, max_sentences=40)
    (tmp_path / "toy.deu").write_text("\n".join(pair.src) + "\n", encoding="utf-8")
    (tmp_path / "toy.eng").write_text("\n".join(pair.eng) + "\n", encoding="utf-8")
    registry = TARGETS.with_target(_toy_spec(tmp_path))
    assert "toy-deu" in registry and "toy-deu" not in TARGETS  # the built-in registry is unchanged
    with pytest.raises(XitConfigError, match="eval.targets='toy-deu' is not valid"):
        plan_evaluation(EvalConfig(targets=["toy-deu"]))
    with pytest.raises(XitConfigError, match="registered twice"):
        registry.with_target(_toy_spec(tmp_path))

    settings = {"cache": False, "progress": False, "data_dir": str(data_dir)}
    toy = evaluate_encoder(e5_small, dict(settings, targets=["toy-deu"]), registry=registry)
    assert list(toy.columns) == ROW_COLUMNS
    assert set(toy["target"]) == {"toy-deu"} and set(toy["split"]) == {"toy"}
    assert set(toy["prefix"]) == {"query:/query:"} and set(toy["threshold_source"]) == {"NA"}
    # The same 40 lines through the built-in Tatoeba target give the same accuracies.
    builtin = evaluate_encoder(e5_small, dict(settings, targets=["tatoeba"], tatoeba_languages=["deu"], tatoeba_max_sentences=40))
    key = ["language", "direction"]
    assert toy.set_index(key)["value"].to_dict() == builtin.set_index(key)["value"].to_dict()
    values = toy[toy["language"] == "deu"].set_index("direction")["value"]
    # e5-small retrieves nearly every one of 40 German-English pairs: at most 2 misses each way.
    assert values["xx->en"] >= 95.0 and values["en->xx"] >= 95.0 and (toy["n"] == 40).all()
