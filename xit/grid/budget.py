"""A run's training budget: an explicit policy (total, per-task or epochs) recorded with every run.

With a fixed total (``total``), a run on k tasks gives each task about 1/k of the steps, so k is
confounded with how much each task trains; ``per_task`` fixes the steps of each task instead (total =
steps × k). A grid can run both arms over the same subsets: comparing them separates "more tasks" from
"less training per task".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xit.config import choice
from xit.errors import XitConfigError

POLICIES = ("total", "per_task", "epochs")

#: Recipe fields the budget sets per run: a grid with a ``budget:`` must not also set them in ``train:``.
BUDGET_FIELDS = ("max_steps", "epochs")


@dataclass(frozen=True)
class Budget:
    """One budget arm: a policy and its amount (optimizer steps, or epochs for ``epochs``)."""

    policy: str
    steps: int | None = None
    epochs: float | None = None

    def scaled(self, scale: float) -> Budget:
        """The same policy with its amount times ``scale`` (at least one step)."""
        if self.policy == "epochs":
            return Budget(self.policy, epochs=float(self.epochs) * scale)  # type: ignore[arg-type]
        return Budget(self.policy, steps=max(1, int(round(self.steps * scale))))  # type: ignore[operator]

    def total_steps(self, k: int) -> int | None:
        """Nominal optimizer steps of a run on k tasks (None for epochs: known only once data is loaded)."""
        if self.policy == "total":
            return self.steps
        if self.policy == "per_task":
            return self.steps * k  # type: ignore[operator]
        return None

    def steps_per_task(self, k: int) -> float | None:
        """Nominal steps per task (the balanced sampler realises it within ±1)."""
        total = self.total_steps(k)
        return None if total is None or k == 0 else total / k

    def recipe(self, k: int) -> dict[str, Any]:
        """The TrainConfig fields that realise this budget for a run on k tasks."""
        if self.policy == "epochs":
            return {"max_steps": None, "epochs": self.epochs}
        return {"max_steps": self.total_steps(k)}

    def record(self) -> dict[str, Any]:
        """As written in grid.json."""
        return {"policy": self.policy, "epochs": self.epochs} if self.policy == "epochs" else {"policy": self.policy, "steps": self.steps}


def parse_budget(value: Any, where: str, default: Budget | None = None) -> Budget:
    """A budget block ``{policy, steps}`` / ``{policy: epochs, epochs}``, or a policy name taking default's amount."""
    if isinstance(value, str):
        choice(value, POLICIES, f"{where} policy")
        if default is None:
            raise XitConfigError(f"{where}={value!r} names a policy but the grid has no budget: to take the amount from; "
                                 f"write {{policy: {value}, steps: N}}")
        if value == "epochs":
            return Budget("epochs", epochs=default.epochs if default.policy == "epochs" else 3.0)
        if default.steps is None:
            raise XitConfigError(f"{where}={value!r} needs optimizer steps, but the grid's budget is {default.record()}; "
                                 f"write {{policy: {value}, steps: N}}")
        return Budget(value, steps=default.steps)
    if not isinstance(value, dict) or "policy" not in value:
        raise XitConfigError(f"{where}={value!r} must be a policy name ({', '.join(POLICIES)}) or a mapping "
                             "like {policy: total, steps: 60}")
    unknown = sorted(set(value) - {"policy", "steps", "epochs"})
    if unknown:
        raise XitConfigError(f"{where} has unknown field {unknown[0]!r}; a budget has policy, steps (or epochs)")
    policy = choice(value["policy"], POLICIES, f"{where}.policy")
    if policy == "epochs":
        epochs = value.get("epochs", 3.0)
        if not isinstance(epochs, int | float) or isinstance(epochs, bool) or not math.isfinite(epochs) or epochs <= 0:
            raise XitConfigError(f"{where}.epochs={epochs!r} must be a positive number of passes over the data")
        return Budget("epochs", epochs=float(epochs))
    steps = value.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise XitConfigError(f"{where}.steps={steps!r} must be a positive integer (optimizer steps) for policy {policy!r}")
    return Budget(policy, steps=steps)


def grid_budgets(budget: Any, budgets: Any, train: dict[str, Any]) -> tuple[tuple[Budget, ...], dict[str, Any]]:
    """The grid's budget arms, and its recipe without max_steps/epochs (the budget sets them per run).

    An old grid without ``budget:`` keeps its meaning: ``train.max_steps`` is policy ``total`` with those
    steps; otherwise the recipe's ``epochs`` (TrainConfig's default 3) is policy ``epochs``.
    """
    train = dict(train)
    if budget is None and budgets is None:
        steps = train.pop("max_steps", None)
        epochs = train.pop("epochs", None)
        if steps is not None:
            return (parse_budget({"policy": "total", "steps": steps}, "train.max_steps"),), train
        block = {"policy": "epochs"} if epochs is None else {"policy": "epochs", "epochs": epochs}
        return (parse_budget(block, "train.epochs"),), train
    owned = [f for f in BUDGET_FIELDS if f in train]
    if owned:
        raise XitConfigError(f"train.{owned[0]} is set per run by the grid's budget:; remove it from train: "
                             "(budget: {policy: total, steps: N} fixes max_steps, {policy: epochs, epochs: E} epochs)")
    if budget is not None and budgets is not None:
        raise XitConfigError("give either budget: (one arm) or budgets: (a list of arms), not both")
    if budget is not None:
        return (parse_budget(budget, "budget"),), train
    if not isinstance(budgets, list) or not budgets:
        raise XitConfigError(f"budgets={budgets!r} must be a non-empty list of budget blocks, e.g. "
                             "[{policy: total, steps: 60}, {policy: per_task, steps: 20}]")
    first = parse_budget(budgets[0], "budgets[0]")
    arms = [first] + [parse_budget(b, f"budgets[{i}]", first) for i, b in enumerate(budgets[1:], 1)]
    return unique_arms(arms, "budgets"), train


def unique_arms(arms: list[Budget], where: str) -> tuple[Budget, ...]:
    """Arms without repeats (a repeated arm would only rerun the same runs)."""
    for i, arm in enumerate(arms):
        if arm in arms[:i]:
            raise XitConfigError(f"{where} lists the budget {arm.record()} more than once; list each arm once")
    return tuple(arms)
