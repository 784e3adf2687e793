"""The grid file (params/<grid>.yaml): its fields, and their validation before any run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xit.config import choice, from_dict, load_yaml
from xit.encoders.loading import DEFAULT_MODEL
from xit.errors import XitConfigError
from xit.grid.design import subsets_for_k
from xit.grid.runs import (
    GRID_OWNED_TRAIN_FIELDS,
    canonical,
    non_default,
    recipe_for,
    resolved_recipe,
)
from xit.paths import REPO_ROOT

BACKENDS = ("serial", "dask")

TRAINING_NOTEBOOK = "notebooks/01_intermediate_training.ipynb"

RETRIEVAL_NOTEBOOK = "notebooks/02_retrieval.ipynb"



@dataclass
class GridConfig:
    """A task-count grid as written in params/<grid>.yaml."""

    ks: list[int]
    model: str = DEFAULT_MODEL
    pool: str | list[str] = "paper9"
    subsets_per_k: int | dict[int, int] = 1
    design_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    output_dir: str = "outputs"
    backend: str = "serial"
    workers: int = 2
    scheduler: str | None = None
    keep_encoders: bool = True
    training_notebook: str = TRAINING_NOTEBOOK
    retrieval_notebook: str = RETRIEVAL_NOTEBOOK
    analysis: list[str] = field(default_factory=list)
    analysis_dir: str = "report"
    #: Also build <output_dir>/<analysis_dir>/index.html with xit.analysis.report (notebook 05 exported to HTML).
    report: bool = False
    cell_timeout: int | None = None
    name: str = "grid"
    description: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "grid") -> GridConfig:
        """Build from a dict, refusing unknown fields; call ``validate()`` before running."""
        if "ks" not in (data or {}):
            raise XitConfigError(f"{where} needs 'ks', the task counts to run, e.g. ks: [0, 1, 2, 9]")
        return from_dict(cls, data, where)

    @classmethod
    def from_yaml(cls, path: str | Path) -> GridConfig:
        """Load a grid file; the grid's name defaults to the file's stem."""
        data = load_yaml(path)
        data.setdefault("name", Path(path).stem)
        return cls.from_dict(data, where=str(path))

    def with_overrides(self, backend: str | None = None, workers: int | None = None) -> GridConfig:
        """A copy with the command line's backend/workers in place of the file's."""
        changes: dict[str, Any] = {}
        if backend is not None:
            changes["backend"] = backend
        if workers is not None:
            changes["workers"] = workers
        return dataclasses.replace(self, **changes)

    def validate(self) -> ResolvedGrid:
        """Check every field against the task registry and the evaluation config; return the resolved grid."""
        return resolve_grid(self)



@dataclass(frozen=True)
class ResolvedGrid:
    """A validated grid: the concrete pool, ks, canonical recipe/evaluation and absolute paths."""

    config: GridConfig
    pool: tuple[str, ...]
    ks: tuple[int, ...]
    train: dict[str, Any]
    eval: dict[str, Any]
    #: The evaluation's non-default fields: what run ids hash.
    eval_id: dict[str, Any]
    output_dir: Path
    training_notebook: Path
    retrieval_notebook: Path
    analysis: tuple[Path, ...]



def _find_notebook(path: str, field_name: str) -> Path:
    """A notebook path as given (relative to the current directory), else inside the xit source tree."""
    places = list(dict.fromkeys([Path.cwd(), REPO_ROOT]))
    for base in places:
        candidate = base / Path(path).expanduser()
        if candidate.is_file():
            return candidate.resolve()
    raise XitConfigError(
        f"{field_name}={path!r}: notebook not found (looked in {' and '.join(map(str, places))}). "
        "Give a path relative to the current directory or an absolute one."
    )



def _resolve_pool(pool: str | list[str]) -> tuple[str, ...]:
    """The pool's task names (a named pool or a list), each checked against the task registry."""
    from xit.tasks import resolve_pool

    if not isinstance(pool, str | list | tuple):
        raise XitConfigError(f"pool={pool!r} must be a pool name (paper9, paper-offline, all-offline) or a list of task names")
    names = resolve_pool(pool)  # unknown pools/tasks and duplicates fail here, listing the known ones
    if not names:
        raise XitConfigError("pool is empty; name a pool (paper9, paper-offline, all-offline) or list tasks")
    return tuple(names)



def _int_list(values: Any, field_name: str) -> list[int]:
    """A list of non-negative ints, or a clear error."""
    if isinstance(values, int) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, list | tuple) or not values:
        raise XitConfigError(f"{field_name} must be a non-empty list of integers, got {values!r}")
    bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or v < 0]
    if bad:
        raise XitConfigError(f"{field_name} must hold non-negative integers; {bad[0]!r} is not one")
    return list(values)



def _validate_recipe(train: dict[str, Any], model: str, pool: tuple[str, ...], seed: int) -> dict[str, Any]:
    """The grid's train: section, checked by xit.training's TrainConfig on the whole pool."""
    if not isinstance(train, dict):
        raise XitConfigError(f"train must be a mapping of training settings (TrainConfig fields), got {train!r}")
    owned = [k for k in GRID_OWNED_TRAIN_FIELDS if k in train]
    if owned:
        raise XitConfigError(
            f"train.{owned[0]} is set by the grid for each run; remove it from train: and use the grid's "
            "model:, pool:/ks: and seeds: fields instead"
        )
    train = canonical(train)
    resolved_recipe(model, pool, seed, recipe_for(train, pool, pool))
    return train



def _validate_evaluation(evaluation: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The eval: section checked by xit.retrieval (targets, languages, data on disk); returns (as given, for ids)."""
    from xit.retrieval.suite import EvalConfig, plan_evaluation

    if not isinstance(evaluation, dict):
        raise XitConfigError(f"eval must be a mapping of evaluation settings (EvalConfig fields), got {evaluation!r}")
    config = EvalConfig.from_dict(dict(evaluation))
    plan_evaluation(config)  # unknown targets/languages and missing data fail here
    return canonical(evaluation), non_default(config, EvalConfig.from_dict({}))



def _check_task_data(pool: tuple[str, ...], train: dict[str, Any]) -> None:
    """Every pool task's data can be had with the recipe's data source (local files, or the hub when online)."""
    from xit.tasks import require_task_data

    require_task_data(pool, source=train.get("data_source", "auto"), data_dir=train.get("data_dir"))



def resolve_grid(config: GridConfig) -> ResolvedGrid:
    """Validate a grid before any run: pool, ks, subsets, seeds, recipe, evaluation, notebooks, backend."""
    choice(config.backend, BACKENDS, "backend")
    if not isinstance(config.workers, int) or config.workers < 1:
        raise XitConfigError(f"workers={config.workers!r} must be a positive integer (Dask workers)")
    ks = _int_list(config.ks, "ks")
    dup_ks = sorted({k for k in ks if ks.count(k) > 1})
    if dup_ks:
        raise XitConfigError(f"ks lists k={dup_ks[0]} more than once; list each task count once")
    seeds = _int_list(config.seeds, "seeds")
    dup_seeds = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup_seeds:
        raise XitConfigError(f"duplicate seed {dup_seeds[0]} in seeds={seeds}; list each seed once (the same seed would rerun the same runs)")
    pool = _resolve_pool(config.pool)
    n = len(pool)
    too_big = [k for k in ks if k > n]
    if too_big:
        raise XitConfigError(
            f"k={too_big[0]} is larger than the pool ({n} tasks: {', '.join(pool)}); use k ≤ {n} or a larger pool"
        )
    per_k = config.subsets_per_k
    if isinstance(per_k, dict):
        stray = [k for k in per_k if k not in ks]
        if stray:
            raise XitConfigError(f"subsets_per_k names k={stray[0]}, which is not in ks={ks}")
        counts = list(per_k.values())
    else:
        counts = [per_k]
    bad = [c for c in counts if not isinstance(c, int) or isinstance(c, bool) or c < 1]
    if bad:
        raise XitConfigError(f"subsets_per_k must be a positive integer (or a mapping k: count); got {bad[0]!r}")
    for k in ks:
        wanted, exist = subsets_for_k(config, k, n), math.comb(n, k)
        if wanted > exist:
            raise XitConfigError(
                f"subsets_per_k asks for {wanted} subsets of k={k} tasks, but a pool of {n} has only "
                f"C({n},{k}) = {exist}; ask for at most {exist}"
            )
    # Singletons and the full set anchor every scaling curve: always part of the design.
    full_ks = tuple(sorted(set(ks) | {1, n}))
    train = _validate_recipe(config.train, config.model, pool, seeds[0])
    _check_task_data(pool, train)
    evaluation, eval_id = _validate_evaluation(config.eval)
    return ResolvedGrid(
        config=config,
        pool=pool,
        ks=full_ks,
        train=train,
        eval=evaluation,
        eval_id=eval_id,
        output_dir=Path(config.output_dir).expanduser().resolve(),
        training_notebook=_find_notebook(config.training_notebook, "training_notebook"),
        retrieval_notebook=_find_notebook(config.retrieval_notebook, "retrieval_notebook"),
        analysis=tuple(_find_notebook(p, "analysis") for p in config.analysis),
    )
