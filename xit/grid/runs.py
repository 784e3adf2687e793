"""Run specs and their stable ids: what one run of a grid is, and the hash that names it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Set per run by the grid, so a grid's train: section must not set them.
GRID_OWNED_TRAIN_FIELDS = ("model", "tasks", "seed", "run_id")

#: Fields that change how a run is shown or stored, not its numbers: left out of run ids and encoder keys.
COSMETIC_FIELDS = ("progress", "cache", "checkpoint_every", "keep_checkpoints")



@dataclass(frozen=True)
class RunSpec:
    """One run of a grid: everything a worker needs to execute it, picklable."""

    run_id: str
    k: int
    tasks: tuple[str, ...]
    seed: int | None
    model: str
    train: dict[str, Any]
    eval: dict[str, Any]
    encoder_key: str | None
    output_dir: str
    training_notebook: str
    retrieval_notebook: str
    keep_encoders: bool = True
    cell_timeout: int | None = None
    #: none (k = 0), task, or a control kind (xit.grid.kinds.RUN_KINDS).
    kind: str = "task"
    budget_policy: str | None = None
    #: Nominal optimizer steps of the run, and per task (None for the baseline and the epochs policy).
    total_steps: int | None = None
    steps_per_task: float | None = None
    #: Interpolation weight of the trained encoder (None for other kinds).
    alpha: float | None = None
    #: TrainConfig.fingerprint() of the training this run needs: a cached encoder is reused only on a match.
    train_fingerprint: str | None = None
    #: DriftProbe fields for the drift diagnostics of a trained encoder; None = no drift (an extra output, not in ids).
    drift_probe: dict[str, Any] | None = None
    #: Where the run computes (GridConfig.device); part of the id unless cpu.
    device: str = "cpu"

    @property
    def tasks_label(self) -> str:
        """Sorted task names joined by '+', '' for the baseline (the results table's ``tasks``)."""
        return "+".join(self.tasks)

    @property
    def run_dir(self) -> Path:
        """Where this run's notebooks, results and status live."""
        return Path(self.output_dir) / "runs" / self.run_id

    @property
    def encoder_dir(self) -> Path | None:
        """The cached training output for this run's (model, tasks, seed, recipe), None for k = 0."""
        return None if self.encoder_key is None else Path(self.output_dir) / "encoders" / self.encoder_key

    @property
    def trains_own_recipe(self) -> bool:
        """The run's training records are its own (not a baseline, not weights derived from another run's)."""
        from xit.grid.kinds import RUN_KINDS

        return self.encoder_key is not None and RUN_KINDS[self.kind].derive is None

    @property
    def run_info(self) -> dict[str, Any]:
        """The columns notebook 02 stamps on every result row (RUN_COLUMNS)."""
        return {"run_id": self.run_id, "k": self.k, "tasks": self.tasks_label, "seed": self.seed, "kind": self.kind,
                "budget_policy": self.budget_policy, "total_steps": self.total_steps,
                "steps_per_task": self.steps_per_task, "alpha": self.alpha}



def canonical(obj: Any) -> Any:
    """A JSON-stable copy: dict keys sorted, tuples as lists (so equal params hash equally)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))



def stable_hash(obj: Any, length: int = 10) -> str:
    """A short hex digest of a JSON-canonical form of obj (stable across processes and machines)."""
    text = json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]



def _version() -> int:
    """xit.RESULTS_VERSION, read at call time (so a bump, or a test's monkeypatch, changes every id)."""
    import xit

    return int(xit.RESULTS_VERSION)



def encoder_key(model: str, tasks: Iterable[str], seed: int, train: dict[str, Any], device: str = "cpu") -> str:
    """The cache key of a trained encoder: hash of (results version, model, sorted tasks, seed, full recipe, device
    unless cpu: CPU keys predate the field and stay as they were)."""
    tasks = sorted(tasks)
    payload = {"v": _version(), "model": model, "tasks": tasks, "seed": seed, "train": train}
    if device != "cpu":
        payload["device"] = device
    return f"k{len(tasks)}-{stable_hash(payload)}"



def run_id(model: str, tasks: Iterable[str], seed: int | None, train: dict[str, Any], eval: dict[str, Any],
           kind: str = "task", alpha: float | None = None, device: str = "cpu") -> str:
    """A run's stable id: 'k<k>-' plus a hash of its resolved parameters (the baseline ignores seed and recipe).

    ``train`` and ``eval`` are the FULL resolved configurations (resolved_recipe, resolved_eval), so a
    changed default changes the ids of the runs it affects; xit.RESULTS_VERSION is hashed too, and the device
    unless it is cpu (CPU ids predate the field and stay as they were).
    """
    tasks = sorted(tasks)
    if tasks:
        payload = {"v": _version(), "model": model, "tasks": tasks, "seed": seed, "train": train, "eval": eval}
        if kind != "task":
            payload.update(kind=kind, alpha=alpha)
    else:
        payload = {"v": _version(), "model": model, "tasks": [], "eval": eval}
    if device != "cpu":
        payload["device"] = device
    return f"k{len(tasks)}-{stable_hash(payload)}"



def resolved_fields(config: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Every field of a config dataclass but the cosmetic and skipped ones (what ids hash)."""
    skip = set(skip) | set(COSMETIC_FIELDS)
    return canonical({k: v for k, v in dataclasses.asdict(config).items() if k not in skip})



def non_default(config: Any, defaults: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of a config dataclass that differ from its defaults (for display, not for ids)."""
    resolved, base = dataclasses.asdict(config), dataclasses.asdict(defaults)
    skip = set(skip) | set(COSMETIC_FIELDS)
    return canonical({k: v for k, v in resolved.items() if k not in skip and v != base.get(k)})



def recipe_for(train: dict[str, Any], tasks: Iterable[str], pool: Iterable[str]) -> dict[str, Any]:
    """One task subset's recipe: per-task settings ({task: value} maps over the pool) keep only its tasks."""
    tasks, keys = set(tasks), set(pool) | {"*"}
    out = {}
    for key, value in train.items():
        if isinstance(value, dict) and value and set(value) <= keys:
            value = {t: v for t, v in value.items() if t in tasks or t == "*"}
            if not value:
                continue
        out[key] = value
    return out



def resolved_recipe(model: str, tasks: tuple[str, ...], seed: int, train: dict[str, Any]) -> dict[str, Any]:
    """Validate one run's recipe with xit.training's TrainConfig; return all its fields but the grid-owned ones."""
    return resolved_training(model, tasks, seed, train)[0]



def resolved_training(model: str, tasks: tuple[str, ...], seed: int, train: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the recipe's full fields for ids, TrainConfig.fingerprint() of the training notebook 01 will run)."""
    from xit.training import TrainConfig

    config = TrainConfig.from_dict({**train, "model": model, "tasks": list(tasks), "seed": seed}, where="train")
    return resolved_fields(config, skip=GRID_OWNED_TRAIN_FIELDS), config.fingerprint()



def resolved_eval(evaluation: dict[str, Any]) -> dict[str, Any]:
    """An evaluation's full EvalConfig fields (for ids)."""
    from xit.retrieval.suite import EvalConfig

    return resolved_fields(EvalConfig.from_dict(dict(evaluation)))
