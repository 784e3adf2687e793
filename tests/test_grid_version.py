"""Every number traceable: run ids and encoder keys hash the full resolved configs and xit.RESULTS_VERSION."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import xit
from xit.grid import GridConfig, expand_runs, resolve_grid
from xit.grid.execute import _encoder_ready
from xit.retrieval.suite import EvalConfig
from xit.training import SamplerConfig, TrainConfig

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "notebooks"

#: sha256 of the fields and defaults of TrainConfig, SamplerConfig and EvalConfig (see config_signature).
#: Updated 2026-12-03 without a bump: the controls, MLM objective, recipe-fidelity and evaluation-setup fields
#: landed together with RESULTS_VERSION 2 (their defaults keep the numbers of that version).
CONFIG_PIN = "1be47c01d4cd"


def config_signature() -> str:
    """A hash of every field name and default of the configs whose values make a run's numbers."""
    fields = {}
    for cls in (TrainConfig, SamplerConfig, EvalConfig):
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            fields[f"{cls.__name__}.{f.name}"] = repr(default)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def test_config_fields_and_defaults_are_pinned():
    assert config_signature() == CONFIG_PIN, (
        f"TrainConfig/SamplerConfig/EvalConfig fields or defaults changed (signature {config_signature()}): "
        "numbers may change: bump RESULTS_VERSION and update this pin"
    )


def grid(tmp_path: Path, **fields) -> GridConfig:
    base = dict(ks=[0, 1], pool=["rte", "mrpc"], seeds=[0], train={"max_steps": 2, "max_train_examples": 20},
                eval={"targets": ["tatoeba"], "tatoeba_languages": ["deu"], "tatoeba_max_sentences": 10},
                output_dir=str(tmp_path / "out"), training_notebook=str(FIXTURES / "fixture_training.ipynb"),
                retrieval_notebook=str(FIXTURES / "fixture_retrieval.ipynb"))
    return GridConfig.from_dict({**base, **fields})


def ids(config: GridConfig) -> dict[str, tuple[str, str | None]]:
    return {r.tasks_label: (r.run_id, r.encoder_key) for r in expand_runs(resolve_grid(config))}


def test_a_changed_default_changes_the_ids_of_the_runs_it_affects(tmp_path, data_dir, monkeypatch):
    before = ids(grid(tmp_path))

    @dataclass
    class NewLearningRate(TrainConfig):
        learning_rate: float = 3e-5  # a changed TrainConfig default: trained runs change, the baseline does not

    monkeypatch.setattr("xit.training.TrainConfig", NewLearningRate)
    after = ids(grid(tmp_path))
    assert after[""] == before[""]
    for tasks in ("rte", "mrpc"):
        assert after[tasks][0] != before[tasks][0] and after[tasks][1] != before[tasks][1]
    # Writing the old default out explicitly gives the old runs back.
    pinned = ids(grid(tmp_path, train={"max_steps": 2, "max_train_examples": 20, "learning_rate": 2e-5}))
    assert pinned == before

    @dataclass
    class NewBatchSize(EvalConfig):
        batch_size: int = 32  # a changed EvalConfig default: every run is evaluated differently

    monkeypatch.setattr("xit.retrieval.suite.EvalConfig", NewBatchSize)
    evaluated = ids(grid(tmp_path, train={"max_steps": 2, "max_train_examples": 20, "learning_rate": 2e-5}))
    assert all(evaluated[t][0] != before[t][0] for t in before)
    assert all(evaluated[t][1] == before[t][1] for t in before)  # the trained encoders are still the same


def test_a_bumped_results_version_changes_every_id_and_fingerprint(tmp_path, data_dir, monkeypatch):
    before = ids(grid(tmp_path))
    fingerprint = TrainConfig.from_dict({"tasks": ["rte"]}).fingerprint()
    monkeypatch.setattr(xit, "RESULTS_VERSION", xit.RESULTS_VERSION + 1)
    after = ids(grid(tmp_path))
    assert all(after[t][0] != before[t][0] for t in before)
    assert all(after[t][1] != before[t][1] for t in before if t)
    assert TrainConfig.from_dict({"tasks": ["rte"]}).fingerprint() != fingerprint


def test_a_cached_encoder_is_reused_only_when_its_fingerprint_matches(tmp_path, data_dir):
    spec = next(r for r in expand_runs(resolve_grid(grid(tmp_path))) if r.k == 1)
    enc = spec.encoder_dir
    (enc / "encoder").mkdir(parents=True)
    assert not _encoder_ready(spec)  # no done.json: an unfinished training
    (enc / "done.json").write_text(json.dumps({"fingerprint": "0000", "results_version": 1}))
    assert not _encoder_ready(spec)  # a training of other code or recipe
    (enc / "done.json").write_text(json.dumps({"fingerprint": spec.train_fingerprint}))
    assert _encoder_ready(spec)
    expected = TrainConfig.from_dict({**spec.train, "model": spec.model, "tasks": list(spec.tasks), "seed": spec.seed})
    assert spec.train_fingerprint == expected.fingerprint()  # what notebook 01 computes for this run


def test_the_device_is_in_every_id_unless_cpu_and_a_gpu_grid_needs_a_gpu(tmp_path, data_dir, monkeypatch):
    import os

    import pytest

    from xit.errors import XitConfigError
    from xit.grid.execute import check_device, kernel_device

    cpu = ids(grid(tmp_path))
    assert ids(grid(tmp_path, device="cpu")) == cpu
    remote = ids(grid(tmp_path, device="cuda", scheduler="tcp://gpu-host:8786"))  # a remote GPU cluster's workers check
    assert all(remote[t][0] != cpu[t][0] for t in cpu) and all(remote[t][1] != cpu[t][1] for t in cpu if t)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(XitConfigError, match="device='cuda' but torch sees no GPU on this machine"):
        resolve_grid(grid(tmp_path, device="cuda"))
    with pytest.raises(XitConfigError, match="device='gpu' is not valid"):
        resolve_grid(grid(tmp_path, device="gpu"))
    with pytest.raises(RuntimeError, match="torch sees no GPU on worker"):
        check_device("cuda")
    # A cpu run's kernels are launched with CUDA hidden; the launching process's own setting comes back after.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with kernel_device("cpu"):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    with kernel_device("cuda"):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with kernel_device("cpu"):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
