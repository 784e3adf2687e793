"""The training loop as a short story: prepare, resume, step, checkpoint, save.

``train(config, output_dir)`` validates everything first (task names, data, sampler,
steps, precision), runs the contamination guard on the training texts, then trains
with ``accelerate`` (the same code on CPU, one GPU, or ``accelerate launch`` on several):
each optimizer step draws one task from the multi-task sampler and takes
``gradient_accumulation`` length-grouped, dynamically padded batches of it.
Periodic checkpoints (model, heads, optimizer, scheduler, RNG state, batch positions)
make a killed run resume and end exactly where an uninterrupted one ends.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from xit.errors import XitConfigError
from xit.io import write_json_atomic, write_parquet_atomic
from xit.tasks.heads import feature_length, prefix_text
from xit.training.config import TrainConfig
from xit.training.data import TaskData, guard_contamination, load_task_data
from xit.training.mlm_task import MLM_TASK, mlm_task_data
from xit.training.model import (
    MultiTaskModel,
    dev_rows,
    fresh_encoder,
    l2sp_distance,
    parameter_groups,
    start_weights,
)
from xit.training.outputs import (
    CHECKPOINT_STATE,
    SUMMARY_FILE,
    TrainResult,
    check_output_dir,
    checkpoints,
    load_result,
    save_checkpoint,
    save_encoder,
    task_mix,
    with_run_id,
)
from xit.training.sampling import (
    TaskBatches,
    task_for_step,
    task_probabilities,
    task_seed,
)

log = logging.getLogger("xit.training")


@dataclass
class TrainingRun:
    """Everything one training run holds between its phases."""

    config: TrainConfig
    out: Path
    accelerator: Any
    data: dict[str, TaskData]
    tokenizer: Any
    base_path: str | None
    model: Any
    unwrapped: MultiTaskModel
    optimizer: Any
    scheduler: Any
    batches: dict[str, TaskBatches]
    sizes: dict[str, int]
    probabilities: dict[str, float]
    total_steps: int
    started: float
    log_rows: list[dict[str, Any]] = field(default_factory=list)
    dev_rows: list[dict[str, Any]] = field(default_factory=list)
    start_step: int = 0
    resumed_from: int | None = None
    #: L2-SP's θ₀ (trainable encoder weights at the start); None when l2sp is 0.
    anchor: dict[str, torch.Tensor] | None = None


def prepare(config: TrainConfig, out: Path, encoder: Any | None, started: float) -> TrainingRun:
    """Data, guard, encoder, features, heads, sampler, batches, optimizer: a run ready for its first step."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    data = load_task_data(config)
    guard_contamination(data, config)
    accelerator = Accelerator(
        mixed_precision={"fp32": "no"}.get(config.precision, config.precision),
        # Each step trains one head, so the others (and frozen parts) get no gradient that step.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    base = fresh_encoder(config, encoder)
    tokenizer = base.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise XitConfigError(f"model {config.model!r} has no fast tokenizer; span and tagging features need offsets (use a model with tokenizer.json)")
    prefix = prefix_text(config.input_prefix, base)
    for task in data.values():
        task.train_features = task.head_type.featurize(task.spec, task.train_examples, tokenizer, config.max_length, prefix=prefix)
        task.dev_features = task.head_type.featurize(task.spec, task.dev_examples, tokenizer, config.max_length, prefix=prefix)
    if config.objective == "mlm":
        data[MLM_TASK] = mlm_task_data(config, base.model, tokenizer)

    # Heads are initialised from the seed alone, whatever happened while loading the encoder.
    set_seed(config.seed)
    heads = {name: task.head_type.build(task.spec, base.model.config.hidden_size, pooling=config.head_pooling)
             for name, task in data.items()}
    input_keys = [k for k in tokenizer.model_input_names if k in ("input_ids", "attention_mask", "token_type_ids")]
    model = MultiTaskModel(base.model, heads, {n: t.head_type for n, t in data.items()}, input_keys)
    if config.freeze_word_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    model.train()

    sizes = {name: len(task.train_features) for name, task in data.items()}
    world = accelerator.num_processes
    per_step = config.batch_size * config.gradient_accumulation * world
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * sum(sizes.values()) / per_step))
    batches = {
        name: TaskBatches([feature_length(f) for f in task.train_features], config.batch_size * world,
                          seed=task_seed(config.seed, name), group_by_length=config.length_grouping)
        for name, task in data.items()
    }
    optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.learning_rate, eps=config.adam_epsilon)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(config.warmup_ratio * total_steps), total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    # The scheduler is stepped once per optimizer step by us (not prepared, so it is not
    # stepped once per process); it is registered so checkpoints carry it.
    accelerator.register_for_checkpointing(scheduler)
    unwrapped = accelerator.unwrap_model(model)
    # Taken before any resume loads trained weights, so a resumed run keeps the true start as θ₀.
    anchor = start_weights(unwrapped.encoder) if config.l2sp > 0 else None
    return TrainingRun(config, out, accelerator, data, tokenizer, getattr(base, "path", None), model,
                       unwrapped, optimizer, scheduler, batches, sizes,
                       task_probabilities(sizes, config.sampler), total_steps, started, anchor=anchor)


def resume(run: TrainingRun) -> None:
    """Continue from the newest checkpoint of this configuration, or score the untrained heads if asked."""
    config, out = run.config, run.out
    found = checkpoints(out)
    if run.accelerator.is_main_process:  # half-written checkpoints of a killed run
        for stale in (out / "checkpoints").glob(".tmp-step-*"):
            shutil.rmtree(stale, ignore_errors=True)
    if found:
        state = json.loads((found[-1] / CHECKPOINT_STATE).read_text())
        if state["fingerprint"] != config.fingerprint():
            raise XitConfigError(
                f"{found[-1]} is a checkpoint of a different configuration; use a fresh output_dir "
                f"or delete {out / 'checkpoints'} to start this configuration from scratch"
            )
        run.accelerator.load_state(str(found[-1]))
        for name, st in state["batches"].items():
            run.batches[name].restore(st)
        run.start_step = run.resumed_from = int(state["step"])
        run.log_rows, run.dev_rows = state["log_rows"], state["dev_rows"]
        log.info("resuming %s from step %d", out, run.start_step)
    elif config.eval_at_start and run.accelerator.is_main_process:
        run.dev_rows = dev_rows(run.unwrapped, run.data, run.tokenizer, config, run.accelerator.device, step=0)


def train_step(run: TrainingRun, step: int) -> dict[str, Any]:
    """One optimizer step on the task the sampler draws for it; returns its log row."""
    config, accelerator = run.config, run.accelerator
    task_name = task_for_step(run.probabilities, config.seed, step, config.sampler.name)
    task = run.data[task_name]
    pad_to = config.max_length if config.pad_to_max_length else None
    rank, device = accelerator.process_index, accelerator.device
    tick = time.perf_counter()
    step_loss = torch.zeros((), device=device)
    n_features = 0
    distance = None
    for micro in range(config.gradient_accumulation):
        global_batch = run.batches[task_name].next()
        n_features += len(global_batch)
        # Every process sees the same global batch order and takes its own slice.
        mine = global_batch[rank * config.batch_size : (rank + 1) * config.batch_size] or global_batch[:1]
        batch = task.head_type.collate([task.train_features[i] for i in mine], run.tokenizer, pad_to)
        batch = {k: v.to(device) for k, v in batch.items()}
        last = micro == config.gradient_accumulation - 1
        with (nullcontext() if last else accelerator.no_sync(run.model)), accelerator.autocast():
            loss = task.head_type.loss(run.model(task_name, batch), batch) / config.gradient_accumulation
        if last and run.anchor is not None:
            # Once per optimizer step, on the last micro-batch, so DDP syncs its gradient with the rest.
            distance = l2sp_distance(run.unwrapped.encoder, run.anchor)
            accelerator.backward(loss + config.l2sp * distance)
        else:
            accelerator.backward(loss)
        step_loss += loss.detach()
    if config.max_grad_norm:
        accelerator.clip_grad_norm_(run.model.parameters(), config.max_grad_norm)
    lr = run.scheduler.get_last_lr()[0]
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    loss_value = float(accelerator.reduce(step_loss, reduction="mean").item())
    seconds = time.perf_counter() - tick
    row = {"step": step + 1, "task": task_name, "loss": loss_value, "lr": float(lr),
           "examples_per_s": n_features / seconds if seconds > 0 else float("nan")}
    if distance is not None:  # Σ‖θ − θ₀‖² before this step's update (the logged loss excludes the penalty)
        row["l2sp_distance"] = float(distance.detach().item())
    run.log_rows.append(row)
    return row


def checkpoint(run: TrainingRun, step: int) -> None:
    """A resumable checkpoint after ``step`` steps when the recipe asks for one there."""
    every = run.config.checkpoint_every
    if every and step % every == 0 and step < run.total_steps:
        save_checkpoint(run.accelerator, run.out, step, {
            "step": step, "fingerprint": run.config.fingerprint(),
            "batches": {n: b.state() for n, b in run.batches.items()}, "log_rows": run.log_rows, "dev_rows": run.dev_rows,
        })


def save(run: TrainingRun) -> TrainResult:
    """Write the encoder, heads, logs, final dev metrics and the summary (last: it marks the run finished)."""
    config, out, accelerator = run.config, run.out, run.accelerator
    accelerator.wait_for_everyone()
    columns = ["step", "task", "loss", "lr", "examples_per_s"] + (["l2sp_distance"] if config.l2sp > 0 else [])
    train_log = with_run_id(run.log_rows, config.run_id, columns)
    mix = task_mix(train_log, run.probabilities, run.sizes)
    if accelerator.is_main_process:
        log.info("realised task mix:\n%s", mix.to_string(index=False))
        if config.save_model:
            save_encoder(run.unwrapped, run.tokenizer, run.base_path, out, config, run.total_steps)
        rows = run.dev_rows + dev_rows(run.unwrapped, run.data, run.tokenizer, config, accelerator.device, step=run.total_steps)
        write_parquet_atomic(train_log, out / "train_log.parquet")
        write_parquet_atomic(with_run_id(rows, config.run_id, ["step", "task", "metric", "value", "n"]), out / "dev_metrics.parquet")
        write_json_atomic({
            "fingerprint": config.fingerprint(), "steps": run.total_steps, "resumed_from": run.resumed_from,
            "seconds": time.perf_counter() - run.started, "config": dataclasses.asdict(config),
            "task_mix": mix.to_dict(orient="list"),
            "dropped_for_contamination": {n: t.dropped_for_contamination for n, t in run.data.items()},
            "num_processes": accelerator.num_processes,
        }, out / SUMMARY_FILE)
        if not config.keep_checkpoints:
            shutil.rmtree(out / "checkpoints", ignore_errors=True)
    accelerator.wait_for_everyone()
    return load_result(out)


def train(config: TrainConfig, output_dir: str | Path, encoder: Any | None = None) -> TrainResult:
    """Train the encoder on config.tasks (one or many) and write encoder/, heads.pt, train_log and dev_metrics.

    ``encoder``: an already loaded ``xit.encoders.Encoder`` to start from (copied, never modified),
    instead of loading ``config.model``. Re-running with the same output_dir resumes from the last
    checkpoint, or returns the finished run.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    config.validate()
    out = Path(output_dir)
    finished = check_output_dir(out, config)
    if finished is not None:
        return finished
    run = prepare(config, out, encoder, started)
    resume(run)
    bar = tqdm(total=run.total_steps, initial=run.start_step, desc="training", unit="step",
               disable=not (config.progress and run.accelerator.is_main_process))
    for step in range(run.start_step, run.total_steps):
        row = train_step(run, step)
        bar.set_postfix(task=row["task"], loss=f"{row['loss']:.3f}", ex_s=f"{row['examples_per_s']:.1f}")
        bar.update(1)
        checkpoint(run, step + 1)
    bar.close()
    return save(run)
