"""Which task subsets a grid runs: today the balanced draw (every singleton, the full pool, balanced subsets between)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

from xit.errors import XitConfigError

if TYPE_CHECKING:
    from xit.grid.config import GridConfig


def subsets_for_k(config: GridConfig, k: int, n: int) -> int:
    """How many task subsets the design draws for k: all n singletons, one full set, else subsets_per_k."""
    if k == 0 or k == n:
        return 1
    if k == 1:
        return n
    per_k = config.subsets_per_k
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
            design[k] = balanced_subsets(pool, k, subsets_for_k(config, k, n), config.design_seed)
    return design
