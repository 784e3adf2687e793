"""params/paper.yaml's path, offline: params/paper-ci.yaml on a tiny random 24-layer XLM-R, end to end.

XLM-R Large itself needs the hub and a GPU. This runs the same code path with XLM-R's classes, depth and
vocabulary (xit.encoders.tiny): the epochs budget, gradient accumulation, frozen word embeddings saved as a
delta over an XLM-R base, layer 14 of 24, and BUCC F1 at a threshold carried from a dev split to a disjoint
test split (a Tatoeba-derived corpus in BUCC's file layout). Values are checked, not just that it ran.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import pandas as pd
import pytest

from xit.encoders import load_encoder
from xit.encoders.delta import DELTA_META, DELTA_WEIGHTS
from xit.encoders.tiny import build_tiny_xlmr
from xit.errors import XitConfigError
from xit.grid import GridConfig, expand_design, resolve_grid, run_grid
from xit.retrieval import data as rdata

REPO = Path(__file__).resolve().parent.parent
PAPER = REPO / "params" / "paper.yaml"
PAPER_CI = REPO / "params" / "paper-ci.yaml"
#: The paper's recipe fields the CI grid must share with params/paper.yaml (sizes and caps aside).
SHARED_RECIPE = ("learning_rate", "adam_epsilon", "max_grad_norm", "warmup_ratio", "batch_size", "precision")


def build_bucc_splits(root: Path, data_dir: Path) -> Path:
    """A de-en BUCC-layout folder with disjoint dev and test splits (20 gold pairs among 80 sentences each)."""
    whole = rdata.build_tatoeba_mining_corpus("deu", n_parallel=40, n_per_side=160, seed=0, root=data_dir)
    for corpus in rdata.split_mining_corpus(whole, ("dev", "test"), language="de"):
        rdata.write_bucc(corpus, root)
    return root


@pytest.fixture(scope="module")
def tiny_xlmr(tmp_path_factory) -> Path:
    """The tiny random 24-layer XLM-R, built once for this module (~9 s with imports)."""
    return build_tiny_xlmr(tmp_path_factory.mktemp("tiny-xlmr"))


@pytest.fixture(scope="module")
def paper_ci(tmp_path_factory, data_dir, tiny_xlmr):
    """params/paper-ci.yaml with the tiny XLM-R and a fresh BUCC folder, run once in an empty folder."""
    root = tmp_path_factory.mktemp("paper-ci")
    model = tiny_xlmr
    bucc = build_bucc_splits(root / "bucc", data_dir)
    config = GridConfig.from_yaml(PAPER_CI)
    config = dataclasses.replace(config, model=str(model), output_dir=str(root / "out"),
                                 eval={**config.eval, "bucc_dir": str(bucc)})
    runs, _ = expand_design(resolve_grid(config))
    start = time.perf_counter()
    summary = run_grid(config, progress=False)
    print(f"paper-ci grid: {len(runs)} runs in {time.perf_counter() - start:.0f} s")
    return root, config, runs, summary, pd.read_parquet(root / "out" / "results.parquet")


def test_the_ci_grid_keeps_the_papers_recipe():
    paper, ci = GridConfig.from_yaml(PAPER), GridConfig.from_yaml(PAPER_CI)
    assert {f: ci.train[f] for f in SHARED_RECIPE} == {f: paper.train[f] for f in SHARED_RECIPE}
    assert paper.eval["layers"] == [14] and ci.eval["layers"] == [14, -1]  # the paper's layer, and the last
    for field in ("bucc_split", "bucc_threshold_split", "exclude_special"):
        assert ci.eval[field] == paper.eval[field]
    assert ci.budget == {"policy": "epochs", "epochs": 1.5} and ci.train["gradient_accumulation"] > 1


def test_papers_own_recipe_and_evaluation_validate_offline(tmp_path, data_dir, tiny_xlmr):
    """paper.yaml with only the model, pool, BUCC folder and device swapped: its train: and eval: sections are accepted."""
    bucc = tmp_path / "bucc"
    for tatoeba, bucc_language in (("deu", "de"), ("fra", "fr"), ("rus", "ru"), ("cmn", "zh")):
        whole = rdata.build_tatoeba_mining_corpus(tatoeba, n_parallel=4, n_per_side=8, seed=0, root=data_dir)
        for corpus in rdata.split_mining_corpus(whole, ("dev", "test"), language=bucc_language):
            rdata.write_bucc(corpus, bucc)
    paper = GridConfig.from_yaml(PAPER)
    assert paper.device == "cuda"  # GPU only: its runs' ids name the device (refused here, where torch sees no GPU)
    config = dataclasses.replace(paper, model=str(tiny_xlmr), pool=["rte", "ud_pos"], ks=[0, 1, 2], analysis=[],
                                 output_dir=str(tmp_path / "out"), eval={**paper.eval, "bucc_dir": str(bucc)}, device="cpu")
    grid = resolve_grid(config)
    assert [arm.record() for arm in grid.arms] == [{"policy": "epochs", "epochs": 3.0}]
    runs, _ = expand_design(grid)
    trained = [r for r in runs if r.k]
    assert len(runs) == 4 and {r.budget_policy for r in trained} == {"epochs"} and all(r.total_steps is None for r in trained)
    assert all((r.train["epochs"], r.train["max_steps"], r.train["gradient_accumulation"]) == (3.0, None, 8) for r in trained)
    assert grid.eval["layers"] == [14] and grid.eval["bucc_threshold_split"] == "dev"
    assert grid.eval["tatoeba_languages"] == "xtreme36"  # all 36 files were checked on disk


def test_the_bucc_splits_are_disjoint(tmp_path, data_dir):
    folder = build_bucc_splits(tmp_path, data_dir)
    dev, test = (rdata.load_bucc("de", split, folder=folder) for split in ("dev", "test"))
    assert (len(dev.src), len(dev.en), len(dev.gold)) == (len(test.src), len(test.en), len(test.gold)) == (80, 80, 20)
    assert not set(dev.src) & set(test.src) and not set(dev.en) & set(test.en)
    assert not set(dev.src_ids) & set(test.src_ids)
    # Every gold pair is a Tatoeba translation pair.
    deu = rdata.load_tatoeba("deu", data_dir)
    pairs = set(zip(deu.src, deu.eng))
    src, en = dict(zip(test.src_ids, test.src)), dict(zip(test.en_ids, test.en))
    assert all((src[a], en[b]) in pairs for a, b in test.gold)
    whole = rdata.build_tatoeba_mining_corpus("deu", n_parallel=40, n_per_side=160, seed=0, root=data_dir)
    with pytest.raises(XitConfigError, match="cannot be cut into 3 equal splits"):
        rdata.split_mining_corpus(whole, ("dev", "test", "extra"))
    with pytest.raises(XitConfigError, match="must be distinct split names"):
        rdata.split_mining_corpus(whole, ("dev", "dev"))


def test_every_run_executes_in_an_empty_folder(paper_ci):
    _, _, runs, summary, table = paper_ci
    assert summary.ok, str(summary)
    assert len(runs) == 4 and len(summary.done) == 4 and not summary.skipped
    assert sum(o.trained for o in summary.done) == 3
    assert sorted(table["run_id"].unique()) == sorted(r.run_id for r in runs)
    assert set(table["budget_policy"].dropna()) == {"epochs"} and table["total_steps"].isna().all()


def test_rows_at_layer_14_and_24_without_prefixes(paper_ci):
    table = paper_ci[4]
    assert set(table["layer"]) == {14, 24}
    assert set(table["target"]) == {"tatoeba", "bucc"}
    # The tiny model carries no e5 prefixes: every row records the empty prefix ('none' in the prefix label).
    assert set(table["prefix"]) == {"none/none"}
    tatoeba = table[(table["target"] == "tatoeba") & (table["metric"] == "accuracy")]
    per_language = tatoeba[tatoeba["language"] != "all"]
    assert set(per_language["language"]) == {"deu", "fra"} and set(per_language["n"]) == {30}
    assert set(tatoeba.loc[tatoeba["language"] == "all", "n"]) == {60}
    assert per_language.groupby("run_id").size().eq(2 * 2 * 2).all()  # 2 languages x 2 directions x 2 layers


def test_bucc_threshold_is_carried_from_dev_to_test(paper_ci):
    table = paper_ci[4]
    bucc = table[table["target"] == "bucc"]
    assert set(bucc["split"]) == {"test"} and set(bucc["language"]) == {"de"} and set(bucc["n"]) == {20}
    key = ["run_id", "layer"]
    f1 = bucc[bucc["metric"] == "f1"].set_index(key)
    oracle = bucc[bucc["metric"] == "f1_oracle"].set_index(key)
    assert set(f1["threshold_source"]) == {"split:dev"} and set(oracle["threshold_source"]) == {"oracle"}
    assert len(f1) == len(oracle) == 4 * 2 and f1.index.equals(oracle.index)
    # The oracle is the best F1 over every threshold on the test split, so no carried threshold beats it.
    assert (f1["value"] <= oracle["value"] + 1e-9).all()
    assert (oracle["value"] > 0).all()  # not vacuous: some gold pair is found at the oracle threshold
    carried = bucc[bucc["metric"] == "threshold"].set_index(key)["value"]
    best = bucc[bucc["metric"] == "threshold_oracle"].set_index(key)["value"]
    assert not carried.equals(best)  # the headline threshold is dev's, not test's own


def test_training_used_the_epochs_budget_and_gradient_accumulation(paper_ci):
    runs = paper_ci[2]
    trained = [r for r in runs if r.k > 0]
    for spec in trained:
        summary = json.loads((spec.run_dir / "train_summary.json").read_text())
        recipe = summary["config"]
        assert (recipe["gradient_accumulation"], recipe["batch_size"], recipe["epochs"], recipe["max_steps"]) == (2, 4, 1.5, None)
        features = sum(summary["task_mix"]["train_features"])
        # max_train_examples per task, one feature per example, less what the contamination guard dropped
        # (RTE's "Pyongyang is the capital of North Korea." is also a Tatoeba English sentence).
        assert features == sum(24 - n for n in summary["dropped_for_contamination"].values())
        assert summary["steps"] == math.ceil(1.5 * features / (4 * 2))  # e.g. ceil(1.5 * 47 / 8) = 9 for both tasks
        assert sum(summary["task_mix"]["steps"]) == summary["steps"]


def test_trained_encoders_are_xlmr_deltas_over_the_tiny_model(paper_ci):
    _, config, runs, _, table = paper_ci
    trained = [r for r in runs if r.k > 0]
    for spec in trained:
        encoder = spec.encoder_dir / "encoder"
        saved = json.loads((encoder / "config.json").read_text())
        assert (saved["model_type"], saved["num_hidden_layers"]) == ("xlm-roberta", 24)
        meta = json.loads((encoder / DELTA_META).read_text())
        assert meta["base_model"] == config.model and meta["shared"] == ["embeddings.word_embeddings.weight"]
        assert (encoder / DELTA_WEIGHTS).stat().st_size < 2_000_000  # the 250002 x 32 matrix (32 MB) is not in it
    assert set(table.loc[table["k"] > 0, "model"]) == {str(r.encoder_dir / "encoder") for r in trained}
    # What notebook 02 loaded: the base's frozen matrix under the trained layers.
    enc, base = load_encoder(str(trained[-1].encoder_dir / "encoder"), device="cpu"), load_encoder(config.model, device="cpu")
    assert type(enc.model).__name__ == "XLMRobertaModel" and (enc.query_prefix, enc.passage_prefix) == ("", "")
    assert enc.model.embeddings.word_embeddings.weight.equal(base.model.embeddings.word_embeddings.weight)
    assert not enc.model.encoder.layer[13].attention.self.query.weight.equal(base.model.encoder.layer[13].attention.self.query.weight)


def test_the_papers_other_heads_train_on_xlmr(tiny_xlmr, data_dir, tmp_path):
    """Span (SQuAD), multiple choice (HellaSwag) and CCG tagging heads on XLM-R's tokenizer: the paper pool's heads."""
    from xit.training import TrainConfig, train

    tasks = ["squad_v1", "hellaswag", "ccg"]
    config = TrainConfig.from_dict({"model": str(tiny_xlmr), "tasks": tasks, "seed": 0, "epochs": 1.0, "max_steps": None,
                                    "batch_size": 2, "gradient_accumulation": 2, "max_length": 96,
                                    "freeze_word_embeddings": True, "max_train_examples": 8, "max_dev_examples": 4,
                                    "eval_targets": ["tatoeba"], "progress": False})
    result = train(config, tmp_path / "run")
    assert result.steps == math.ceil(1.0 * result.task_mix["train_features"].sum() / (2 * 2))
    assert set(result.train_log["task"]) <= set(tasks) and result.train_log["loss"].notna().all()
    final = result.dev_metrics[result.dev_metrics["step"] == result.steps]
    assert {"squad_v1", "hellaswag", "ccg"} == set(final["task"]) and final["value"].between(-100, 100).all()
    assert json.loads((result.encoder_dir / "config.json").read_text())["model_type"] == "xlm-roberta"
    assert (result.encoder_dir / DELTA_META).is_file()
