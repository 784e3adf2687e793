"""English intermediate tasks: the registry, readers, canonical splits, metrics and the leakage guard."""

from xit.tasks.loading import (
    load_task_split,
    local_available,
    require_local,
    require_task_data,
    task_table,
)
from xit.tasks.registry import POOLS, TASKS, get_task, list_tasks, resolve_pool
from xit.tasks.spec import HEAD_NAMES, TaskSpec

__all__ = [
    "HEAD_NAMES", "POOLS", "TASKS", "TaskSpec", "get_task", "list_tasks", "load_task_split",
    "local_available", "require_local", "require_task_data", "resolve_pool", "task_table",
]
