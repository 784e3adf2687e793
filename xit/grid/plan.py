"""A grid's designs and controls (params/*.yaml ``designs:``, ``controls:``) turned into design members.

A member is one cell of one design: a run kind, a task subset, a budget arm and the design's own
coordinates (nested: order and position; dose: scale; interpolation: alpha). Members are independent of
the training seed; the grid crosses them with its seeds and deduplicates equal runs by run id, so one run
can belong to several designs (the design table records every membership).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from xit.errors import XitConfigError
from xit.grid.budget import Budget, parse_budget, unique_arms
from xit.grid.design import (
    balanced_design,
    factorial_subsets,
    named_subsets,
    nested_orders,
    subsets_for_k,
)
from xit.grid.kinds import CONTROL_KINDS, get_kind

DESIGN_KINDS = ("balanced", "factorial", "nested", "dose")

#: Fields every block may have; each kind adds its own (DESIGN_FIELDS, RunKind.params).
COMMON_FIELDS = ("kind", "name", "budgets", "seeds")
DESIGN_FIELDS = {
    "balanced": ("ks", "subsets_per_k", "seed"),
    "factorial": ("pool",),
    "nested": ("orders", "ks", "pool", "seed"),
    "dose": ("subsets", "scales"),
}


@dataclass(frozen=True)
class Member:
    """One cell of a design: what runs (kind, tasks, budget, kind params) and where it sits in the design."""

    design: str
    kind: str
    tasks: tuple[str, ...]
    budget: Budget | None
    params: dict[str, Any] = field(default_factory=dict)
    order: int | None = None
    position: int | None = None
    scale: float | None = None
    #: The training seeds of this cell when its block names its own (``seeds:``); None = the grid's seeds.
    seeds: tuple[int, ...] | None = None


def baseline_member(design: str = "baseline", order: int | None = None) -> Member:
    """The untrained encoder (k = 0): no tasks, no budget, no seed."""
    return Member(design, "none", (), None, order=order, position=0 if order is not None else None)


def _int_list(values: Any, where: str, low: int = 0, what: str = "k") -> list[int]:
    if isinstance(values, int) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, list | tuple) or not values:
        raise XitConfigError(f"{where} must be a non-empty list of integers, got {values!r}")
    bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or v < low]
    if bad:
        raise XitConfigError(f"{where} must hold non-negative integers; {bad[0]!r} is not one")
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        raise XitConfigError(f"{where} lists {what}={dup[0]} more than once; list each value once")
    return list(values)


def check_balanced(ks: Any, per_k: Any, pool: tuple[str, ...], where: str) -> list[int]:
    """The ks and subsets_per_k of a balanced draw over the pool, checked (k ≤ n, at most C(n, k) subsets)."""
    ks = _int_list(ks, f"{where}ks")
    n = len(pool)
    too_big = [k for k in ks if k > n]
    if too_big:
        raise XitConfigError(f"k={too_big[0]} is larger than the pool ({n} tasks: {', '.join(pool)}); use k ≤ {n} or a larger pool")
    if isinstance(per_k, dict):
        stray = [k for k in per_k if k not in ks]
        if stray:
            raise XitConfigError(f"{where}subsets_per_k names k={stray[0]}, which is not in ks={ks}")
        counts = list(per_k.values())
    else:
        counts = [per_k]
    bad = [c for c in counts if not isinstance(c, int) or isinstance(c, bool) or c < 1]
    if bad:
        raise XitConfigError(f"{where}subsets_per_k must be a positive integer (or a mapping k: count); got {bad[0]!r}")
    for k in ks:
        wanted, exist = subsets_for_k(per_k, k, n), math.comb(n, k)
        if wanted > exist:
            raise XitConfigError(f"{where}subsets_per_k asks for {wanted} subsets of k={k} tasks, but a pool of {n} "
                                 f"has only C({n},{k}) = {exist}; ask for at most {exist}")
    return ks


def balanced_members(name: str, pool: tuple[str, ...], ks: list[int], per_k: Any, seed: int,
                     arms: tuple[Budget, ...]) -> list[Member]:
    """Today's balanced draw (singletons and the full set always in), crossed with the arms."""
    design = balanced_design(pool, sorted(set(ks) | {1, len(pool)}), per_k, seed)
    out = [baseline_member(name)] if 0 in design else []
    return out + [Member(name, "task", s, arm) for arm in arms for k in design if k > 0 for s in design[k]]


def _sub_pool(block: dict[str, Any], pool: tuple[str, ...], where: str) -> tuple[str, ...]:
    if "pool" not in block:
        return pool
    if not isinstance(block["pool"], list):
        raise XitConfigError(f"{where}.pool={block['pool']!r} must be a list of tasks from the grid's pool")
    return named_subsets([block["pool"]], pool, f"{where}.pool")[0]


def _numbers(values: Any, where: str) -> list[float]:
    if not isinstance(values, list) or not values:
        raise XitConfigError(f"{where}={values!r} must be a non-empty list of positive numbers, e.g. [0.5, 1, 2]")
    for v in values:
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
            raise XitConfigError(f"{where} holds {v!r}; each value must be a positive number")
    if len(set(values)) != len(values):
        raise XitConfigError(f"{where}={values} lists a value more than once")
    return [float(v) for v in values]


def _design_members(kind: str, name: str, block: dict[str, Any], pool: tuple[str, ...], arms: tuple[Budget, ...],
                    design_seed: int, where: str) -> list[Member]:
    """The members of one design block (balanced, factorial, nested or dose)."""
    if kind == "balanced":
        if "ks" not in block:
            raise XitConfigError(f"{where} (kind balanced) needs ks:, the task counts, e.g. ks: [0, 1, 2, 4]")
        per_k = block.get("subsets_per_k", 1)
        ks = check_balanced(block["ks"], per_k, pool, f"{where}.")
        return balanced_members(name, pool, ks, per_k, block.get("seed", design_seed), arms)
    if kind == "factorial":
        subsets = factorial_subsets(_sub_pool(block, pool, where))
        return [Member(name, "task", s, arm) for arm in arms for s in subsets]
    if kind == "nested":
        sub = _sub_pool(block, pool, where)
        orders = block.get("orders", 1)
        if not isinstance(orders, int) or isinstance(orders, bool) or orders < 1:
            raise XitConfigError(f"{where}.orders={orders!r} must be a positive integer (random orders of the pool)")
        ks = _int_list(block.get("ks", list(range(1, len(sub) + 1))), f"{where}.ks")
        if max(ks) > len(sub):
            raise XitConfigError(f"{where}.ks has k={max(ks)}, larger than its pool ({len(sub)} tasks)")
        out = []
        for r, order in enumerate(nested_orders(sub, orders, block.get("seed", design_seed))):
            out += [baseline_member(name, r)] if 0 in ks else []
            out += [Member(name, "task", tuple(sorted(order[:k])), arm, order=r, position=k)
                    for arm in arms for k in sorted(ks) if k > 0]
        return out
    subsets = named_subsets(block.get("subsets"), pool, f"{where}.subsets")
    scales = _numbers(block.get("scales"), f"{where}.scales")
    return [Member(name, "task", s, arm.scaled(scale), scale=scale) for arm in arms for scale in scales for s in subsets]


def _control_members(kind: str, name: str, block: dict[str, Any], pool: tuple[str, ...],
                     arms: tuple[Budget, ...], where: str) -> list[Member]:
    """The members of one control block: its kind's params over its subsets and arms."""
    run_kind = get_kind(kind)
    params = run_kind.check(block, where) if run_kind.check else {}
    subsets = named_subsets(block.get("subsets"), pool, f"{where}.subsets")
    if run_kind.per_value:
        many, one = run_kind.per_value
        rest = {k: v for k, v in params.items() if k != many}
        return [Member(name, kind, s, arm, {**rest, one: value}) for arm in arms for s in subsets for value in params[many]]
    return [Member(name, kind, s, arm, params) for arm in arms for s in subsets]


def block_members(block: Any, index: int, section: str, pool: tuple[str, ...], arms: tuple[Budget, ...],
                  design_seed: int, names: set[str]) -> list[Member]:
    """One block of designs: or controls:, validated, as members (its name recorded in ``names``)."""
    where = f"{section}[{index}]"
    known = DESIGN_KINDS if section == "designs" else CONTROL_KINDS
    if not isinstance(block, dict) or "kind" not in block:
        raise XitConfigError(f"{where}={block!r} must be a mapping with a kind: ({', '.join(known)})")
    kind = block["kind"]
    if kind not in known:
        from xit.config import choice

        choice(kind, known, f"{where}.kind")
    allowed = COMMON_FIELDS + (DESIGN_FIELDS[kind] if section == "designs" else ("subsets",) + get_kind(kind).params)
    unknown = sorted(set(block) - set(allowed))
    if unknown:
        raise XitConfigError(f"{where} (kind {kind}) has unknown field {unknown[0]!r}; it takes {', '.join(allowed)}")
    name = block.get("name", kind)
    if not isinstance(name, str) or not name or name in names or name == "baseline":
        raise XitConfigError(f"{where}.name={name!r} is taken or empty; give each block a distinct name: "
                             f"(two {kind} blocks need names)")
    names.add(name)
    block_arms = arms
    if "budgets" in block:
        entries = block["budgets"] if isinstance(block["budgets"], list) else [block["budgets"]]
        if not entries:
            raise XitConfigError(f"{where}.budgets is empty; name policies (total, per_task, epochs) or give budget blocks")
        block_arms = unique_arms([parse_budget(b, f"{where}.budgets", arms[0]) for b in entries], f"{where}.budgets")
    if section == "designs":
        members = _design_members(kind, name, block, pool, block_arms, design_seed, where)
    else:
        members = _control_members(kind, name, block, pool, block_arms, where)
    if "seeds" not in block:
        return members
    # A costly block may run fewer seeds than the grid (the study's nested arm runs one); ids do not change.
    seeds = tuple(_int_list(block["seeds"], f"{where}.seeds", what="seed"))
    return [m if m.kind == "none" else replace(m, seeds=seeds) for m in members]


def plan_members(designs: Any, controls: Any, pool: tuple[str, ...], arms: tuple[Budget, ...],
                 design_seed: int) -> list[Member]:
    """Every member of a grid's designs: and controls: (the baseline first), validated."""
    names: set[str] = set()
    members = [baseline_member()]
    for section, blocks in (("designs", designs), ("controls", controls)):
        if blocks is None:
            continue
        if not isinstance(blocks, list):
            raise XitConfigError(f"{section}={blocks!r} must be a list of blocks, each with a kind:")
        for i, block in enumerate(blocks):
            members += block_members(block, i, section, pool, arms, design_seed, names)
    return members
