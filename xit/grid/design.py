"""Which task subsets a grid runs: the balanced draw, every subset of a small pool (factorial), random
orders whose prefixes nest (nested), and named subsets (singletons, full, explicit lists)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from xit.errors import XitConfigError

if TYPE_CHECKING:
    from xit.grid.config import GridConfig


def subsets_for_k(per_k: int | dict[int, int], k: int, n: int) -> int:
    """How many task subsets the design draws for k: all n singletons, one full set, else subsets_per_k."""
    if k == 0 or k == n:
        return 1
    if k == 1:
        return n
    return int(per_k.get(k, 1)) if isinstance(per_k, dict) else int(per_k)



def balanced_subsets(pool: tuple[str, ...] | list[str], k: int, m: int, seed: int) -> list[tuple[str, ...]]:
    """m distinct k-subsets of pool in which every task appears floor(mk/n) or ceil(mk/n) times, from a seed."""
    pool = tuple(pool)
    n = len(pool)
    total = math.comb(n, k)
    if not 0 <= k <= n or not 1 <= m <= total:
        raise XitConfigError(f"cannot draw {m} distinct subsets of size {k} from {n} tasks (at most C({n},{k}) = {total})")
    if m == total:
        return [tuple(sorted(c)) for c in itertools.combinations(pool, k)]
    if 2 * m > total:
        # The complement of a balanced set of subsets is balanced too (the full design is exactly balanced).
        excluded = set(balanced_subsets(pool, k, total - m, seed))
        return [s for s in (tuple(sorted(c)) for c in itertools.combinations(pool, k)) if s not in excluded]
    rng = random.Random(f"xit-design-{seed}-{n}-{k}-{m}")
    for _ in range(200):
        design = _greedy_balanced(pool, k, m, rng)
        if design is not None:
            return design
    raise XitConfigError(f"could not draw a balanced design of {m} subsets of size {k} from {n} tasks; try another design_seed")



def _greedy_balanced(pool: tuple[str, ...], k: int, m: int, rng: random.Random) -> list[tuple[str, ...]] | None:
    """One randomized attempt: each subset takes the k least-used tasks (ties at random); None on a forced duplicate."""
    counts = dict.fromkeys(pool, 0)
    design: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for _ in range(m):
        for _try in range(50):
            order = sorted(pool, key=lambda t: (counts[t], rng.random()))
            subset = tuple(sorted(order[:k]))
            if subset not in seen:
                break
        else:
            return None
        seen.add(subset)
        design.append(subset)
        for task in subset:
            counts[task] += 1
    return design



def design_subsets(config: GridConfig, pool: tuple[str, ...], ks: Iterable[int]) -> dict[int, list[tuple[str, ...]]]:
    """A grid file's balanced design (its subsets_per_k and design_seed) per k."""
    return balanced_design(pool, ks, config.subsets_per_k, config.design_seed)



def balanced_design(pool: tuple[str, ...], ks: Iterable[int], per_k: Any, seed: int) -> dict[int, list[tuple[str, ...]]]:
    """The task subsets per k: the baseline, every singleton, the full set, balanced random draws between."""
    n = len(pool)
    design: dict[int, list[tuple[str, ...]]] = {}
    for k in sorted(ks):
        if k == 0:
            design[k] = [()]
        elif k == 1:
            design[k] = [(t,) for t in pool]
        elif k == n:
            design[k] = [tuple(sorted(pool))]
        else:
            design[k] = balanced_subsets(pool, k, subsets_for_k(per_k, k, n), seed)
    return design



#: The largest pool a factorial design takes (2^n − 1 subsets per seed and arm).
FACTORIAL_MAX_POOL = 6

#: Subset keywords a dose design or a control may name.
SUBSET_KEYWORDS = ("singletons", "full")


def factorial_subsets(pool: tuple[str, ...] | list[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset of a small pool (2^n − 1), by size then name."""
    pool = tuple(sorted(pool))
    if not 1 <= len(pool) <= FACTORIAL_MAX_POOL:
        raise XitConfigError(
            f"a factorial design over {len(pool)} tasks would run 2^{len(pool)} − 1 = {2 ** len(pool) - 1} subsets per seed "
            f"and arm; give it a pool of 1 to {FACTORIAL_MAX_POOL} tasks (use nested or balanced for larger pools)"
        )
    return [c for k in range(1, len(pool) + 1) for c in itertools.combinations(pool, k)]



def nested_orders(pool: tuple[str, ...] | list[str], orders: int, seed: int) -> list[tuple[str, ...]]:
    """``orders`` seeded random orders of the pool; an order's prefixes are its nested subsets."""
    names = sorted(pool)
    return [tuple(random.Random(f"xit-nested-{seed}-{r}").sample(names, len(names))) for r in range(orders)]



def named_subsets(entries: list, pool: tuple[str, ...], where: str) -> list[tuple[str, ...]]:
    """Subsets given as keywords (singletons, full) or lists of pool tasks, each once, sorted within."""
    if not isinstance(entries, list) or not entries:
        raise XitConfigError(f"{where}={entries!r} must be a non-empty list of subsets: 'singletons', 'full' or lists of task names")
    found: list[tuple[str, ...]] = []
    for entry in entries:
        if entry == "singletons":
            subsets = [(t,) for t in pool]
        elif entry == "full":
            subsets = [tuple(sorted(pool))]
        elif isinstance(entry, list | tuple) and entry and all(isinstance(t, str) for t in entry):
            stray = [t for t in entry if t not in pool]
            if stray:
                raise XitConfigError(f"{where} names task {stray[0]!r}, which is not in the grid's pool ({', '.join(pool)}); add it to pool:")
            if len(set(entry)) != len(entry):
                raise XitConfigError(f"{where} subset {list(entry)} lists a task more than once")
            subsets = [tuple(sorted(entry))]
        else:
            raise XitConfigError(f"{where} entry {entry!r} is not a subset; use 'singletons', 'full' or a list of task names")
        found += [s for s in subsets if s not in found]
    return found
