"""A run's task data: capped splits per task, and the contamination policy applied before training."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from xit.errors import XitConfigError
from xit.tasks.heads import Feature, HeadType, SpanSettings, get_head_type
from xit.training.config import TrainConfig

log = logging.getLogger("xit.training")


@dataclass
class TaskData:
    """One task's spec, head type, canonical examples and features."""

    spec: Any
    head_type: HeadType
    train_examples: Any
    dev_examples: Any
    train_features: list[Feature] = field(default_factory=list)
    dev_features: list[Feature] = field(default_factory=list)
    dropped_for_contamination: int = 0



def load_task_data(config: TrainConfig) -> dict[str, TaskData]:
    """Read every task's train and dev split (capped); missing data fails here, before any model is loaded."""
    from xit.tasks import get_task, load_task_split

    span = SpanSettings(doc_stride=config.doc_stride)
    data: dict[str, TaskData] = {}
    if config.objective == "mlm":  # the MLM pseudo-task is added once the encoder is loaded (its head is tied to it)
        return data
    for name in config.tasks:
        spec = get_task(name)
        split = {
            s: load_task_split(spec, s, max_examples=config.cap_for(cap, name), source=config.data_source, data_dir=config.data_dir)
            for s, cap in (("train", "max_train_examples"), ("dev", "max_dev_examples"))
        }
        if len(split["train"]) == 0 or len(split["dev"]) == 0:
            raise XitConfigError(f"task {name!r} has {len(split['train'])} train and {len(split['dev'])} dev examples; it needs both")
        if config.label_control == "shuffled":
            # Train labels only: dev stays intact, so dev metrics show the control at chance.
            from xit.tasks.controls import destroy_labels

            split["train"] = destroy_labels(spec, split["train"], config.seed)
        data[name] = TaskData(spec, get_head_type(spec.head, span), split["train"], split["dev"])
    return data



def target_names(targets: list[str]) -> list[str]:
    """Retrieval targets as the contamination guard names them (bucc-tatoeba is built from Tatoeba)."""
    return sorted({"tatoeba" if t == "bucc-tatoeba" else t for t in targets})



def guard_contamination(data: dict[str, TaskData], config: TrainConfig) -> dict[tuple[str, str], int]:
    """Check the training texts against the run's evaluation targets before training.

    Policies: ``error`` refuses overlapping tasks, ``warn`` logs them, ``drop`` removes every
    training example that shares an exact (whitespace-normalised) text with a target, ``off`` skips.
    Returns the overlaps found as {(task, target): texts}.
    """
    if config.contamination == "off" or not config.eval_targets:
        return {}
    from xit.tasks.contamination import check_contamination, target_texts, texts_of
    from xit.tasks.readers import normalise_space

    targets = target_names(list(config.eval_targets))
    if config.contamination in ("error", "warn"):
        return check_contamination({n: texts_of(t.train_examples) for n, t in data.items()}, targets,
                                   config.contamination, config.data_dir)
    target_set: set[str] = set().union(*(target_texts(t, config.data_dir) for t in targets))
    found = {}
    for name, task in data.items():
        keep = [i for i, ex in enumerate(task.train_examples)
                if not any(normalise_space(text) in target_set for text in texts_of([ex]))]
        task.dropped_for_contamination = len(task.train_examples) - len(keep)
        if task.dropped_for_contamination:
            found[(name, "+".join(targets))] = task.dropped_for_contamination
            log.warning("task %s: dropped %d training examples sharing a text with %s", name,
                        task.dropped_for_contamination, ", ".join(targets))
            task.train_examples = task.train_examples.select(keep)
    return found
