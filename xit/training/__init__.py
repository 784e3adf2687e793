"""English intermediate-task training: one shared encoder, one head per task, single- and multi-task in one loop.

Modules: ``config`` (the recipe), ``sampling`` (which task each step trains, its batches),
``data`` (task splits and the contamination policy), ``model`` (multi-task model, dev
evaluation), ``outputs`` (encoder/heads/logs, checkpoints) and ``loop`` (``train``).

Outputs in ``output_dir``: ``encoder/`` (Hugging Face format, loadable by
``xit.encoders.load_encoder``), ``heads.pt``, ``train_log.parquet`` (run_id?, step,
task, loss, lr, examples_per_s), ``dev_metrics.parquet`` (run_id?, step, task, metric,
value, n) and ``train_summary.json`` (written last: its presence marks a finished run).
"""

from xit.training.config import (
    CONTAMINATION_POLICIES,
    EVAL_TARGETS,
    PRECISIONS,
    SAMPLERS,
    SamplerConfig,
    TrainConfig,
)
from xit.training.data import TaskData, guard_contamination, load_task_data
from xit.training.loop import train
from xit.training.model import MultiTaskModel, evaluate_task
from xit.training.outputs import (
    SUMMARY_FILE,
    TrainResult,
    dev_table,
    load_heads,
    task_mix,
)
from xit.training.sampling import TaskBatches, task_for_step, task_probabilities

__all__ = [
    "CONTAMINATION_POLICIES", "EVAL_TARGETS", "PRECISIONS", "SAMPLERS", "SUMMARY_FILE", "MultiTaskModel", "SamplerConfig",
    "TaskBatches", "TaskData", "TrainConfig", "TrainResult", "dev_table", "evaluate_task", "guard_contamination",
    "load_heads", "load_task_data", "task_for_step", "task_mix", "task_probabilities", "train",
]
