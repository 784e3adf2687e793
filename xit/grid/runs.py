"""Run specs and their stable ids: what one run of a grid is, and the hash that names it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from xit.grid.design import design_subsets

if TYPE_CHECKING:
    from xit.grid.config import ResolvedGrid


#: Bump when the meaning of a run's parameters changes, so old ids are not reused for new work.
ID_VERSION = 1

#: Set per run by the grid, so a grid's train: section must not set them.
GRID_OWNED_TRAIN_FIELDS = ("model", "tasks", "seed", "run_id")

#: Fields that change how a run is shown, not its numbers: left out of run ids.
COSMETIC_FIELDS = ("progress", "cache")



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
    def run_info(self) -> dict[str, Any]:
        """The columns notebook 02 stamps on every result row."""
        return {"run_id": self.run_id, "k": self.k, "tasks": self.tasks_label, "seed": self.seed}



def canonical(obj: Any) -> Any:
    """A JSON-stable copy: dict keys sorted, tuples as lists (so equal params hash equally)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))



def stable_hash(obj: Any, length: int = 10) -> str:
    """A short hex digest of a JSON-canonical form of obj (stable across processes and machines)."""
    text = json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]



def encoder_key(model: str, tasks: Iterable[str], seed: int, train: dict[str, Any]) -> str:
    """The cache key of a trained encoder: hash of (model, sorted task subset, seed, recipe)."""
    tasks = sorted(tasks)
    payload = {"v": ID_VERSION, "model": model, "tasks": tasks, "seed": seed, "train": train}
    return f"k{len(tasks)}-{stable_hash(payload)}"



def run_id(model: str, tasks: Iterable[str], seed: int | None, train: dict[str, Any], eval: dict[str, Any]) -> str:
    """A run's stable id: 'k<k>-' plus a hash of its resolved parameters (the baseline ignores seed and recipe)."""
    tasks = sorted(tasks)
    if tasks:
        payload = {"v": ID_VERSION, "model": model, "tasks": tasks, "seed": seed, "train": train, "eval": eval}
    else:
        payload = {"v": ID_VERSION, "model": model, "tasks": [], "eval": eval}
    return f"k{len(tasks)}-{stable_hash(payload)}"



def non_default(config: Any, defaults: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of a config dataclass that differ from its defaults (what a run id hashes)."""
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
    """Validate one run's recipe with xit.training's TrainConfig; return its non-default fields (for ids)."""
    from xit.training import TrainConfig

    fixed = {"model": model, "tasks": list(tasks), "seed": seed}
    config = TrainConfig.from_dict({**train, **fixed}, where="train")
    defaults = TrainConfig.from_dict(fixed, where="train")
    return non_default(config, defaults, skip=GRID_OWNED_TRAIN_FIELDS)



def expand_runs(grid: ResolvedGrid) -> list[RunSpec]:
    """Every run of a resolved grid, in execution order (baseline first), each parameter set once."""
    config = grid.config
    design = design_subsets(config, grid.pool, grid.ks)
    runs: dict[str, RunSpec] = {}
    order = [(k, subset, None) for k, subset in [(0, ())] if 0 in design]
    order += [(k, subset, seed) for seed in config.seeds for k in design if k > 0 for subset in design[k]]
    for k, subset, seed in order:
        recipe = recipe_for(grid.train, subset, grid.pool) if k else {}
        recipe_id = resolved_recipe(config.model, subset, seed, recipe) if k else {}  # type: ignore[arg-type]
        rid = run_id(config.model, subset, seed, recipe_id, grid.eval_id)
        if rid in runs:
            continue
        runs[rid] = RunSpec(
            run_id=rid,
            k=k,
            tasks=tuple(sorted(subset)),
            seed=seed,
            model=config.model,
            train=recipe,
            eval=grid.eval,
            encoder_key=encoder_key(config.model, subset, seed, recipe_id) if k else None,  # type: ignore[arg-type]
            output_dir=str(grid.output_dir),
            training_notebook=str(grid.training_notebook),
            retrieval_notebook=str(grid.retrieval_notebook),
            keep_encoders=config.keep_encoders,
            cell_timeout=config.cell_timeout,
        )
    return list(runs.values())



def design_table(runs: list[RunSpec]) -> pd.DataFrame:
    """One row per run: id, k, tasks, seed, encoder key (the grid's design, for inspection)."""
    return pd.DataFrame(
        {
            "run_id": [r.run_id for r in runs],
            "k": [r.k for r in runs],
            "tasks": [r.tasks_label for r in runs],
            "seed": pd.array([r.seed for r in runs], dtype="Int64"),
            "encoder_key": [r.encoder_key or "" for r in runs],
        }
    )
