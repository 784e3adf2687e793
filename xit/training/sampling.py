"""Which task each step trains (the multi-task sampler) and the resumable batches of one task."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from xit.errors import XitConfigError
from xit.training.config import SAMPLERS, SamplerConfig


def task_probabilities(sizes: dict[str, int], sampler: SamplerConfig) -> dict[str, float]:
    """Per-task sampling probabilities from training sizes (see SamplerConfig for the formulas)."""
    names = list(sizes)
    n = np.array([sizes[t] for t in names], dtype=np.float64)
    if sampler.name in ("uniform", "balanced"):
        weights = np.ones_like(n)
    elif sampler.name == "proportional":
        weights = n
    elif sampler.name == "capped":
        weights = np.minimum(n, sampler.cap)
    elif sampler.name == "temperature":
        capped = np.minimum(n, sampler.cap) if sampler.cap else n
        weights = capped ** (1.0 / sampler.temperature)
    else:
        raise XitConfigError(f"unknown sampler {sampler.name!r}; choose one of {', '.join(SAMPLERS)}")
    if weights.sum() <= 0:
        raise XitConfigError(f"every task has zero training examples ({sizes}); check the data and max_train_examples")
    return dict(zip(names, (weights / weights.sum()).tolist()))



def stable_seed(seed: int, *names: str) -> int:
    """A 63-bit seed from (seed, names): the same for the same names whatever their position in a subset."""
    digest = hashlib.sha256("\x1f".join([str(int(seed)), *names]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1



def task_seed(seed: int, task: str) -> int:
    """The batch-order seed of one task: depends on the run's seed and the task's name, never on its index."""
    return stable_seed(seed, "task-batches", task)



def balanced_task_for_step(names: Iterable[str], seed: int, step: int) -> str:
    """The balanced sampler: each block of K steps trains every task once, in a seeded order.

    The order of block b is a permutation drawn from (seed, sorted task names, b), so after any number
    of steps T every task has trained floor(T/K) or ceil(T/K) steps, and a resumed run draws the same.
    """
    names = sorted(names)
    block, position = divmod(step, len(names))
    rng = np.random.default_rng([stable_seed(seed, "balanced", *names), block])
    return names[int(rng.permutation(len(names))[position])]



def task_for_step(probabilities: dict[str, float], seed: int, step: int, sampler: str = "temperature") -> str:
    """The task trained at ``step``: a draw from its own seeded generator, so a resumed run draws the same."""
    if sampler == "balanced":
        return balanced_task_for_step(probabilities, seed, step)
    names = list(probabilities)
    rng = np.random.default_rng([seed, step, 0x7A5C])
    return names[int(rng.choice(len(names), p=np.array([probabilities[t] for t in names])))]



class TaskBatches:
    """Endless, resumable batches of one task: a seeded shuffle per epoch, grouped by length.

    Length grouping (as transformers' LengthGroupedSampler): shuffle, cut into mega-batches
    of 50 batches, sort each by length, split into batches, shuffle the batch order. The
    state is just (epoch, position), recomputed from the seed on resume.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, group_by_length: bool = True):
        if not lengths:
            raise XitConfigError("a task has no training features; check its data and max_train_examples")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.epoch = 0
        self.position = 0
        self._batches = self._epoch_batches(0)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        if not self.group_by_length:
            return [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        mega = self.batch_size * 50
        batches = []
        for i in range(0, len(order), mega):
            chunk = order[i : i + mega]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches.extend(chunk[j : j + self.batch_size].tolist() for j in range(0, len(chunk), self.batch_size))
        return [batches[k] for k in rng.permutation(len(batches))]

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self._batches)

    def next(self) -> list[int]:
        """Indices of the next batch (moving on to a fresh shuffle at the end of an epoch)."""
        if self.position >= len(self._batches):
            self.epoch, self.position = self.epoch + 1, 0
            self._batches = self._epoch_batches(self.epoch)
        batch = self._batches[self.position]
        self.position += 1
        return batch

    def state(self) -> dict[str, int]:
        """Resumable state."""
        return {"epoch": self.epoch, "position": self.position}

    def restore(self, state: dict[str, int]) -> None:
        """Jump to a saved state."""
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._batches = self._epoch_batches(self.epoch)
