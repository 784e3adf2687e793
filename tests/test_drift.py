"""Drift diagnostics: linear CKA, the alignment gap, per-layer weight distance, and the drift table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ortho_group

from xit.errors import XitConfigError
from xit.retrieval.drift import DriftProbe, alignment_gap, drift_summary, drift_table, layer_of, linear_cka

RNG = np.random.default_rng(0)
X = RNG.normal(size=(400, 24))


def test_cka_of_a_representation_with_itself_is_one():
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    q = ortho_group.rvs(24, random_state=1)
    assert linear_cka(X, 3.7 * X @ q) == pytest.approx(1.0, abs=1e-10)
    y = RNG.normal(size=(400, 16))
    assert linear_cka(X, y) == pytest.approx(linear_cka(X @ q, 0.2 * y), abs=1e-10)


def test_cka_is_not_invariant_to_anisotropic_scaling():
    assert linear_cka(X, X * np.linspace(0.1, 3.0, 24)) < 0.95


def test_cka_against_noise_is_small():
    assert linear_cka(X, RNG.normal(size=(400, 24))) < 0.1


def test_cka_refuses_mismatched_rows():
    with pytest.raises(XitConfigError, match="same rows"):
        linear_cka(X, X[:10])


def test_alignment_gap_separates_pairs_from_non_pairs():
    foreign = X + 0.1 * RNG.normal(size=X.shape)
    assert alignment_gap(X, foreign) > 0.9
    assert abs(alignment_gap(X, RNG.normal(size=X.shape))) < 0.05


@pytest.mark.parametrize("name, layer", [
    ("embeddings.word_embeddings.weight", 0), ("embeddings.LayerNorm.bias", 0),
    ("encoder.layer.0.attention.self.query.weight", 1), ("encoder.layer.11.output.dense.bias", 12),
    ("pooler.dense.weight", None),
])
def test_parameters_map_to_hidden_states_indices(name, layer):
    assert layer_of(name) == layer


def test_probe_is_a_fixed_seeded_sample_of_translation_pairs(data_dir):
    texts, sides = DriftProbe(languages=("deu", "cmn"), n=30, seed=0).texts()
    again, _ = DriftProbe(languages=("cmn", "deu"), n=30, seed=0).texts()
    other, _ = DriftProbe(languages=("deu", "cmn"), n=30, seed=1).texts()
    assert len(texts) == 120 and set(sides) == {"deu", "cmn"}
    assert sorted(texts) == sorted(again)  # a language's sample does not depend on the probe's order
    assert texts != other
    eng, src = sides["cmn"]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in texts[i]) for i in src)
    assert len(eng) == len(src) == 30


def test_bad_probe_fails_before_loading_models(data_dir):
    with pytest.raises(XitConfigError, match="DriftProbe.n=1"):
        drift_table("no-such-model", "no-such-model", DriftProbe(n=1))


PROBE = DriftProbe(languages=("deu", "cmn"), n=24, seed=0)


def test_base_model_against_itself_has_no_drift(e5_small, data_dir):
    table = drift_table(e5_small, e5_small, PROBE, cache=False)
    assert list(table.columns) == ["base_model", "trained_model", "layer", "metric", "language", "value"]
    summary = drift_summary(table)
    assert list(summary.index) == list(range(13))
    np.testing.assert_allclose(summary["param_distance"], 0.0, atol=0)
    np.testing.assert_allclose(summary["cka"], 1.0, atol=1e-6)
    np.testing.assert_allclose(summary["alignment_gap"], summary["alignment_gap_base"], atol=0)
    # The untrained model aligns translations: pairs are closer than non-pairs at the last layer.
    assert summary.loc[12, "alignment_gap"] > 0.1
    assert set(table.loc[table["metric"] == "alignment_gap", "language"]) == {"deu", "cmn", "all"}


@pytest.fixture(scope="module")
def tiny_trained(tmp_path_factory, e5_small, e5_small_path):
    """e5-small after 4 optimizer steps on rte."""
    from xit.training import TrainConfig, train

    config = TrainConfig.from_dict({
        "model": str(e5_small_path), "tasks": ["rte"], "max_steps": 4, "batch_size": 8, "max_length": 48,
        "learning_rate": 1e-4, "warmup_ratio": 0.0, "freeze_word_embeddings": True, "max_train_examples": 32,
        "max_dev_examples": 8, "eval_batch_size": 16, "seed": 0, "progress": False,
    })
    return train(config, tmp_path_factory.mktemp("drift-trained"), encoder=e5_small).encoder_dir


def test_a_trained_encoder_has_drifted(tiny_trained, e5_small_path, data_dir):
    table = drift_table(str(e5_small_path), str(tiny_trained), PROBE, layers=[0, 6, -1], cache=False)
    summary = drift_summary(table)
    assert list(summary.index) == [0, 6, 12]
    assert (summary.loc[[6, 12], "param_distance"] > 0).all()
    assert summary.loc[12, "cka"] < 1.0 - 1e-4
    assert summary.loc[12, "cka"] > 0.5  # four small steps do not destroy the geometry
    assert set(table["trained_model"]) == {str(tiny_trained)} and set(table["base_model"]) == {str(e5_small_path)}
    assert isinstance(table, pd.DataFrame) and table["value"].notna().all()


def test_drift_scatter_draws_one_point_per_run_with_both_tables(tmp_path):
    from xit.analysis import figures

    runs = [f"r{i}" for i in range(7)]
    scores = pd.DataFrame({"run_id": runs, "k": [0, 1, 1, 2, 2, 4, 4], "value": np.linspace(80, 86, 7),
                           "kind": ["base", "trained", "shuffled", "trained", "shuffled", "trained", "l2sp"]})
    drift = pd.DataFrame([(r, layer, metric, "all", v) for r, v in zip(runs[:6], np.linspace(1.0, 0.7, 6))
                          for layer in (0, 12) for metric in ("cka", "param_distance")],
                         columns=["run_id", "layer", "metric", "language", "value"])
    out = figures.drift_scatter(scores, drift, out_dir=tmp_path)
    assert isinstance(out, figures.FigureOutput) and out.paths["png"].is_file()
    ax = out.figure.axes[0]
    points = np.vstack([c.get_offsets() for c in ax.collections])
    assert len(points) == 6  # r6 has no drift row
    assert sorted(points[:, 0].round(6)) == sorted(np.linspace(1.0, 0.7, 6).round(6))
    assert "layer 12" in ax.get_xlabel() and len(ax.collections) == 3  # one marker per kind present
    assert isinstance(figures.drift_scatter(scores, drift, metric="nope"), figures.Note)
