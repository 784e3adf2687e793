"""A resolved grid expanded into runs (deduplicated by run id) and its design table (one row per membership)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from xit.grid.kinds import get_kind
from xit.grid.plan import Member
from xit.grid.runs import RunSpec, encoder_key, recipe_for, resolved_training, run_id

if TYPE_CHECKING:
    from xit.grid.config import ResolvedGrid

#: Columns of design-<grid>.parquet: a run's identity, then the design it belongs to and its place there.
DESIGN_COLUMNS = ("run_id", "k", "tasks", "seed", "kind", "budget_policy", "total_steps", "steps_per_task", "alpha",
                  "design", "order", "position", "scale", "encoder_key")


def run_spec(grid: ResolvedGrid, member: Member, seed: int | None) -> RunSpec:
    """The run of one design cell for one seed: its recipe (grid recipe + budget + kind override) and ids."""
    config = grid.config
    common: dict[str, Any] = dict(
        model=config.model, eval=grid.eval, output_dir=str(grid.output_dir),
        training_notebook=str(grid.training_notebook), retrieval_notebook=str(grid.retrieval_notebook),
        keep_encoders=config.keep_encoders, cell_timeout=config.cell_timeout, kind=member.kind,
        drift_probe=grid.drift_probe, device=config.device,
    )
    if member.kind == "none":
        rid = run_id(config.model, (), None, {}, grid.eval_id, device=config.device)
        return RunSpec(run_id=rid, k=0, tasks=(), seed=None, train={}, encoder_key=None, **common)
    assert member.budget is not None and seed is not None
    k, tasks = len(member.tasks), tuple(sorted(member.tasks))
    recipe = {**recipe_for(grid.train, tasks, grid.pool), **member.budget.recipe(k), **get_kind(member.kind).recipe(member.params)}
    fields, fingerprint = resolved_training(config.model, tasks, seed, recipe)
    alpha = member.params.get("alpha")
    return RunSpec(
        run_id=run_id(config.model, tasks, seed, fields, grid.eval_id, kind=member.kind, alpha=alpha, device=config.device),
        k=k, tasks=tasks, seed=seed, train=recipe,
        # Derived kinds (interpolation) evaluate weights made from the encoder this same recipe trains.
        encoder_key=encoder_key(config.model, tasks, seed, fields, device=config.device),
        budget_policy=member.budget.policy, total_steps=member.budget.total_steps(k),
        steps_per_task=member.budget.steps_per_task(k), alpha=alpha, train_fingerprint=fingerprint, **common,
    )


def expand_design(grid: ResolvedGrid) -> tuple[list[RunSpec], pd.DataFrame]:
    """Every run in execution order (baseline first, derived kinds after the trainings they use), and the design table."""
    cells = [(m, None) for m in grid.members if m.kind == "none"]
    extra = sorted(set().union(*(m.seeds or () for m in grid.members)) - set(grid.config.seeds))
    seeds = list(grid.config.seeds) + extra
    cells += [(m, seed) for seed in seeds for m in grid.members
              if m.kind != "none" and seed in (m.seeds if m.seeds is not None else grid.config.seeds)]
    cells.sort(key=lambda cell: get_kind(cell[0].kind).derive is not None)  # stable: otherwise design order
    runs: dict[str, RunSpec] = {}
    rows = []
    for member, seed in cells:
        spec = run_spec(grid, member, seed)
        runs.setdefault(spec.run_id, spec)
        rows.append({**spec.run_info, "design": member.design, "order": member.order, "position": member.position,
                     "scale": member.scale, "encoder_key": spec.encoder_key or ""})
    table = pd.DataFrame(rows, columns=list(DESIGN_COLUMNS)).drop_duplicates(["run_id", "design", "budget_policy", "order", "position", "scale"])
    return list(runs.values()), typed_design_table(table.reset_index(drop=True))


def typed_design_table(table: pd.DataFrame) -> pd.DataFrame:
    """Nullable dtypes: NA where a column does not apply (seed of the baseline, order outside nested, ...)."""
    table = table.copy()
    for name in ("seed", "total_steps", "order", "position"):
        table[name] = pd.array(table[name].tolist(), dtype="Int64")
    for name in ("steps_per_task", "alpha", "scale"):
        table[name] = pd.array(table[name].tolist(), dtype="Float64")
    return table


def expand_runs(grid: ResolvedGrid) -> list[RunSpec]:
    """Every run of a resolved grid, in execution order (baseline first), each parameter set once."""
    return expand_design(grid)[0]


def design_table(grid: ResolvedGrid) -> pd.DataFrame:
    """One row per (run, design membership): a run in several designs has several rows."""
    return expand_design(grid)[1]
