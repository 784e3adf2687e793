"""The grid file (params/<grid>.yaml): its fields, and their validation before any run."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xit.config import choice, from_dict, load_yaml
from xit.encoders.loading import DEFAULT_MODEL
from xit.errors import XitConfigError
from xit.grid.budget import Budget, grid_budgets
from xit.grid.kinds import get_kind
from xit.grid.plan import Member, balanced_members, check_balanced, plan_members
from xit.grid.runs import (
    GRID_OWNED_TRAIN_FIELDS,
    canonical,
    recipe_for,
    resolved_eval,
    resolved_recipe,
)
from xit.paths import REPO_ROOT, notebook_path

BACKENDS = ("serial", "dask")
#: Where a grid's runs compute. A GPU's float arithmetic differs from a CPU's in the last bits, and the differences
#: grow over training steps, so a non-CPU device is part of every run id and encoder key (xit.grid.runs).
DEVICES = ("cpu", "cuda")

TRAINING_NOTEBOOK = "notebooks/01_intermediate_training.ipynb"

RETRIEVAL_NOTEBOOK = "notebooks/02_retrieval.ipynb"

#: The fields of primary_endpoint: the one number the analysis reports first.
ENDPOINT_FIELDS = ("target", "direction", "layer", "metric")


@dataclass
class GridConfig:
    """A task-count grid as written in params/<grid>.yaml (docs/grid.md)."""

    #: Old-style grids: the balanced design's task counts (new-style grids put them in a balanced design).
    ks: list[int] | None = None
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
    #: One budget arm {policy: total|per_task|epochs, steps: N} (or epochs: E); budgets: a list of arms.
    budget: dict[str, Any] | None = None
    budgets: list[Any] | None = None
    #: New-style grids: design blocks (balanced, factorial, nested, dose) and control blocks (xit.grid.kinds).
    designs: list[dict[str, Any]] | None = None
    controls: list[dict[str, Any]] | None = None
    #: {target, direction, layer, metric}: required with designs:, reported first by the analysis.
    primary_endpoint: dict[str, Any] | None = None
    #: cpu (default: CUDA is hidden from the run kernels, so a GPU machine gives the CPU's numbers and ids) or cuda.
    device: str = "cpu"
    #: Drift diagnostics of every trained encoder (xit.retrieval.drift): true = the default probe, a mapping of
    #: DriftProbe fields (languages, n, seed), or false for none.
    drift: bool | dict[str, Any] = True

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "grid") -> GridConfig:
        """Build from a dict, refusing unknown fields; call ``validate()`` before running."""
        data = data or {}
        if data.get("ks") is None and data.get("designs") is None:
            raise XitConfigError(f"{where} needs 'designs' (e.g. [{{kind: factorial, pool: [rte, ud_pos]}}]) or, "
                                 "for an old-style grid, 'ks', the task counts to run, e.g. ks: [0, 1, 2, 9]")
        if data.get("ks") is not None and data.get("designs") is not None:
            raise XitConfigError(f"{where} has both ks: and designs:; move ks (and subsets_per_k, design_seed) into "
                                 "a design block {kind: balanced, ks: [...], subsets_per_k: N}")
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
    #: The recipe without max_steps/epochs (each run's budget sets them).
    train: dict[str, Any]
    eval: dict[str, Any]
    #: The evaluation's full resolved fields: what run ids hash.
    eval_id: dict[str, Any]
    output_dir: Path
    training_notebook: Path
    retrieval_notebook: Path
    analysis: tuple[Path, ...]
    arms: tuple[Budget, ...] = ()
    #: Every design cell (xit.grid.plan.Member); the grid crosses them with the seeds.
    members: tuple[Member, ...] = ()
    primary_endpoint: dict[str, Any] | None = None
    #: DriftProbe fields for trained encoders, None for no drift diagnostics.
    drift_probe: dict[str, Any] | None = None

    @property
    def new_style(self) -> bool:
        """The grid has designs: (else an old-style ks: grid)."""
        return self.config.designs is not None



def _find_notebook(path: str, field_name: str) -> Path:
    """A notebook path as given (relative to the current directory, or absolute), else xit's own copy by name."""
    candidate = Path(path).expanduser()
    for found in (candidate, REPO_ROOT / candidate):
        if found.is_file():
            return found.resolve()
    try:
        return notebook_path(candidate.name)  # a checkout's notebooks/ or the packaged copy; fails with the fix
    except XitConfigError as err:
        raise XitConfigError(f"{field_name}={path!r}: notebook not found as given; {err}") from err


def _drift_probe(drift: Any) -> dict[str, Any] | None:
    """The grid's drift: field as DriftProbe fields (validated now, before any run), or None."""
    if drift is False:
        return None
    if drift is True:
        return {}
    if not isinstance(drift, dict):
        raise XitConfigError(f"drift={drift!r} must be true, false, or a mapping of DriftProbe fields (languages, n, seed)")
    from xit.retrieval.drift import DriftProbe

    from_dict(DriftProbe, {k: tuple(v) if isinstance(v, list) else v for k, v in drift.items()}, "drift")
    return canonical(drift)


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



def _validate_recipe(train: dict[str, Any], model: str, pool: tuple[str, ...], seed: int,
                     arm: Budget) -> dict[str, Any]:
    """The grid's train: section, checked by xit.training's TrainConfig on the whole pool."""
    if not isinstance(train, dict):
        raise XitConfigError(f"train must be a mapping of training settings (TrainConfig fields), got {train!r}")
    owned = [k for k in GRID_OWNED_TRAIN_FIELDS if k in train]
    if owned:
        raise XitConfigError(
            f"train.{owned[0]} is set by the grid for each run; remove it from train: and use the grid's "
            "model:, pool:/designs: and seeds: fields instead"
        )
    train = canonical(train)
    resolved_recipe(model, pool, seed, {**recipe_for(train, pool, pool), **arm.recipe(len(pool))})
    return train



def _validate_evaluation(evaluation: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """The eval: section checked by xit.retrieval (targets, languages, data on disk): (as given, for ids, plan)."""
    from xit.retrieval.suite import EvalConfig, plan_evaluation

    if not isinstance(evaluation, dict):
        raise XitConfigError(f"eval must be a mapping of evaluation settings (EvalConfig fields), got {evaluation!r}")
    plan = plan_evaluation(EvalConfig.from_dict(dict(evaluation)))  # unknown targets/languages and missing data fail here
    return canonical(evaluation), resolved_eval(evaluation), plan



def _validate_endpoint(endpoint: Any, plan: Any, required: bool) -> dict[str, Any] | None:
    """primary_endpoint: a target the grid evaluates, at one of its layers, with a direction and a metric."""
    example = "{target: tatoeba, direction: 'xx->en', layer: -1, metric: accuracy}"
    if endpoint is None:
        if required:
            raise XitConfigError(f"a grid with designs: needs primary_endpoint:, the number analysed first, e.g. {example}")
        return None
    if not isinstance(endpoint, dict) or set(endpoint) != set(ENDPOINT_FIELDS):
        raise XitConfigError(f"primary_endpoint={endpoint!r} must have exactly the fields {', '.join(ENDPOINT_FIELDS)}, e.g. {example}")
    if endpoint["target"] not in plan.targets:
        raise XitConfigError(f"primary_endpoint.target={endpoint['target']!r} is not evaluated by this grid "
                             f"(eval.targets: {', '.join(plan.targets)}); add it to eval.targets or pick one of those")
    layers = plan.config.layers
    layer = endpoint["layer"]
    if not isinstance(layer, int) or isinstance(layer, bool) or (layers != "all" and layer not in layers):
        raise XitConfigError(f"primary_endpoint.layer={layer!r} is not among eval.layers={layers}; pick one of those")
    for name in ("direction", "metric"):
        if not isinstance(endpoint[name], str) or not endpoint[name]:
            raise XitConfigError(f"primary_endpoint.{name}={endpoint[name]!r} must be a non-empty string, e.g. {example}")
    return dict(endpoint)



def _validate_overrides(members: list[Member], train: dict[str, Any], model: str, pool: tuple[str, ...], seed: int) -> None:
    """Each control's recipe override checked by TrainConfig (an unknown field fails here, before any run)."""
    seen = set()
    for m in members:
        override = get_kind(m.kind).recipe(m.params) if m.budget is not None else {}
        key = (m.kind, m.tasks, json.dumps(override, sort_keys=True))
        if override and key not in seen:
            seen.add(key)
            resolved_recipe(model, m.tasks, seed, {**recipe_for(train, m.tasks, pool), **m.budget.recipe(len(m.tasks)), **override})



def _check_task_data(pool: tuple[str, ...], train: dict[str, Any]) -> None:
    """Every pool task's data can be had with the recipe's data source (local files, or the hub when online)."""
    from xit.tasks import require_task_data

    require_task_data(pool, source=train.get("data_source", "auto"), data_dir=train.get("data_dir"))



def _members(config: GridConfig, pool: tuple[str, ...], arms: tuple[Budget, ...]) -> tuple[list[Member], tuple[int, ...]]:
    """The grid's design cells and the task counts they cover (old-style grids: today's balanced design)."""
    if config.designs is not None:
        members = plan_members(config.designs, config.controls, pool, arms, config.design_seed)
        return members, tuple(sorted({len(m.tasks) for m in members}))
    ks = check_balanced(config.ks, config.subsets_per_k, pool, "")
    members = balanced_members("balanced", pool, ks, config.subsets_per_k, config.design_seed, arms)
    if config.controls is not None:
        members += plan_members(None, config.controls, pool, arms, config.design_seed)[1:]  # [0] is the baseline
    # Singletons and the full set anchor every scaling curve: always part of the design.
    return members, tuple(sorted(set(ks) | {1, len(pool)}))



def _check_device(device: str, remote: bool) -> None:
    """Refuse an unknown device, and cuda where this machine's torch sees no GPU (a remote scheduler's workers check their own)."""
    choice(device, DEVICES, "device")
    if device == "cuda" and not remote:
        import torch

        if not torch.cuda.is_available():
            raise XitConfigError("device='cuda' but torch sees no GPU on this machine; run where CUDA is visible, "
                                 "or set device: cpu (its runs have other ids, see docs/grid.md)")


def resolve_grid(config: GridConfig) -> ResolvedGrid:
    """Validate a grid before any run: pool, designs, budgets, seeds, recipe, evaluation, notebooks, backend."""
    choice(config.backend, BACKENDS, "backend")
    if not isinstance(config.workers, int) or config.workers < 1:
        raise XitConfigError(f"workers={config.workers!r} must be a positive integer (Dask workers)")
    seeds = _int_list(config.seeds, "seeds")
    dup_seeds = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup_seeds:
        raise XitConfigError(f"duplicate seed {dup_seeds[0]} in seeds={seeds}; list each seed once (the same seed would rerun the same runs)")
    pool = _resolve_pool(config.pool)
    if not isinstance(config.train, dict):
        raise XitConfigError(f"train must be a mapping of training settings (TrainConfig fields), got {config.train!r}")
    arms, train = grid_budgets(config.budget, config.budgets, config.train)
    if config.designs is not None and "sampler" not in train:
        train["sampler"] = {"name": "balanced"}  # new designs: each task gets exactly its share of the steps
    members, ks = _members(config, pool, arms)
    train = _validate_recipe(train, config.model, pool, seeds[0], arms[0])
    _validate_overrides(members, train, config.model, pool, seeds[0])
    _check_task_data(pool, train)
    evaluation, eval_id, plan = _validate_evaluation(config.eval)
    endpoint = _validate_endpoint(config.primary_endpoint, plan, required=config.designs is not None)
    _check_device(config.device, remote=config.scheduler is not None)
    return ResolvedGrid(
        config=config,
        pool=pool,
        ks=ks,
        train=train,
        eval=evaluation,
        eval_id=eval_id,
        output_dir=Path(config.output_dir).expanduser().resolve(),
        training_notebook=_find_notebook(config.training_notebook, "training_notebook"),
        retrieval_notebook=_find_notebook(config.retrieval_notebook, "retrieval_notebook"),
        analysis=tuple(_find_notebook(p, "analysis") for p in config.analysis),
        arms=arms,
        members=tuple(members),
        primary_endpoint=endpoint,
        drift_probe=_drift_probe(config.drift),
    )
