"""The training recipe: TrainConfig and SamplerConfig, validated before any data is read."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import torch

from xit.config import choice, from_dict, require_int, require_number
from xit.encoders.loading import DEFAULT_MODEL
from xit.errors import XitConfigError
from xit.retrieval.targets import target_names
from xit.tasks.head_base import INPUT_PREFIXES, POOLINGS

SAMPLERS = ("proportional", "capped", "temperature", "uniform", "balanced")

PRECISIONS = ("fp32", "fp16", "bf16")

CONTAMINATION_POLICIES = ("drop", "error", "warn", "off")

#: Retrieval targets a recipe may name for the contamination guard: the target registry's names.
EVAL_TARGETS = target_names()

#: Fields that change neither the numbers nor the outputs of a run (a resume may change them).
NON_RESULT_FIELDS = ("progress", "checkpoint_every", "keep_checkpoints")

LABEL_CONTROLS = ("none", "shuffled")
OBJECTIVES = ("tasks", "mlm")




@dataclass
class SamplerConfig:
    """Multi-task sampler: which task each optimizer step trains on.

    proportional: p_i ∝ n_i; capped: p_i ∝ min(n_i, cap); temperature: p_i ∝ min(n_i, cap)^(1/T)
    (cap optional; T=1 is proportional, T→∞ uniform); uniform: p_i = 1/K. n_i = training features of task i.
    balanced: not a draw; every block of K steps trains each task once in a seeded order, so each task gets
    exactly floor(T/K) or ceil(T/K) of T steps (the grid's default for new designs: k is not confounded
    with a task's share of the steps).
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

    model: str = DEFAULT_MODEL
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
    #: Control run: "shuffled" destroys each task's training labels (xit.tasks.controls.destroy_labels).
    label_control: str = "none"
    #: L2-SP (Li et al. 2018, arXiv 1802.01483): loss += l2sp * sum ||theta - theta_0||^2 over trainable encoder weights.
    l2sp: float = 0.0
    #: "tasks" trains the English tasks; "mlm" trains continued multilingual MLM instead (the control of Phang et
    #: al.), at the budget the grid gives the run's tasks, on text free of every evaluation target (xit.mlm).
    objective: str = "tasks"
    #: MLMCorpusSpec fields for objective "mlm" ({} = non-English Tatoeba text of the unevaluated languages).
    mlm_corpus: dict[str, Any] = field(default_factory=dict)
    mlm_probability: float = 0.15
    #: Held-out corpus sentences (one fixed mask each) for the MLM dev metrics.
    mlm_dev_sentences: int = 200
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
    #: Prefix every training/dev text a head featurizes with the encoder's own prefix: "none", "query"
    #: ("query: " for e5) or "passage"; e5 was trained with them, so evaluating prefixed but training bare mismatches.
    input_prefix: str = "none"
    #: Pooled heads (classification, regression, multiple choice) read the "first" token (jiant/XLM-R CLS)
    #: or the "mean" over non-padding tokens (e5's own pooling).
    head_pooling: str = "first"

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
            require_int(self.max_steps, "train.max_steps", hint=" (optimizer steps), or null to use epochs")
        elif self.epochs is None:
            raise XitConfigError("train.epochs=None must be a positive number when max_steps is null; set max_steps or epochs")
        else:
            require_number(self.epochs, "train.epochs", 0, open_low=True, hint=" when max_steps is null; set max_steps or epochs")
        for name in ("batch_size", "gradient_accumulation", "eval_batch_size", "doc_stride"):
            require_int(getattr(self, name), f"train.{name}")
        require_int(self.max_length, "train.max_length", 16, maximum=4096, hint=" within the model's limit (e.g. 128 or 256)")
        require_number(self.learning_rate, "train.learning_rate", 0, 1, open_low=True, hint=", e.g. 2e-5")
        require_number(self.warmup_ratio, "train.warmup_ratio", 0, 1, hint=", e.g. 0.1")
        require_number(self.weight_decay, "train.weight_decay", 0)
        if self.max_grad_norm is not None:
            require_number(self.max_grad_norm, "train.max_grad_norm", 0, open_low=True, hint=", or null for no clipping")
        require_int(self.checkpoint_every, "train.checkpoint_every", 0, hint=" (0 = no checkpoints, else steps between them)")
        for name in ("max_train_examples", "max_dev_examples"):
            self._check_caps(name, getattr(self, name))
        choice(self.precision, PRECISIONS, "train.precision")
        if self.precision != "fp32" and not torch.cuda.is_available():
            raise XitConfigError(f"train.precision={self.precision!r} needs a GPU and none is visible; use precision: fp32 on CPU")
        choice(self.contamination, CONTAMINATION_POLICIES, "train.contamination")
        choice(self.label_control, LABEL_CONTROLS, "train.label_control")
        choice(self.objective, OBJECTIVES, "train.objective")
        require_number(self.mlm_probability, "train.mlm_probability", 0, 1, open_low=True, hint=", e.g. 0.15 as BERT/XLM-R")
        require_int(self.mlm_dev_sentences, "train.mlm_dev_sentences")
        if self.objective == "mlm":
            from xit.mlm import MLMCorpusSpec

            MLMCorpusSpec.from_dict(self.mlm_corpus, "train.mlm_corpus")
        require_number(self.l2sp, "train.l2sp", 0, hint=" (0 = off; e.g. 0.01 pulls the encoder toward its start weights)")
        choice(self.data_source, ("auto", "local", "hub"), "train.data_source")
        choice(self.input_prefix, INPUT_PREFIXES, "train.input_prefix")
        choice(self.head_pooling, POOLINGS, "train.head_pooling")
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
        """A hash of the fields that determine a run's numbers, and xit.RESULTS_VERSION (a resume must match it)."""
        import xit

        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in NON_RESULT_FIELDS}
        fields["results_version"] = xit.RESULTS_VERSION
        return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]
