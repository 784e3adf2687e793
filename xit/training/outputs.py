"""What a training run leaves behind: encoder/, heads.pt, logs, the summary, and resumable checkpoints."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from xit.encoders.delta import DELTA_META, is_delta, save_delta
from xit.errors import XitConfigError
from xit.io import write_json_atomic
from xit.tasks.heads import get_head_type
from xit.training.config import TrainConfig
from xit.training.model import MultiTaskModel

log = logging.getLogger("xit.training")


SUMMARY_FILE = "train_summary.json"

CHECKPOINT_STATE = "xit_state.json"

#: Model files written by save_pretrained; every other *.json of the base model dir is copied over.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt")

MIX_COLUMNS = ("task", "train_features", "probability", "steps", "share")



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



def load_result(out: Path) -> TrainResult:
    summary = json.loads((out / SUMMARY_FILE).read_text())
    enc = out / "encoder"
    heads = out / "heads.pt"
    return TrainResult(
        output_dir=out,
        encoder_dir=enc if enc.is_dir() else None,
        heads_path=heads if heads.is_file() else None,
        train_log=pd.read_parquet(out / "train_log.parquet"),
        dev_metrics=pd.read_parquet(out / "dev_metrics.parquet"),
        task_mix=pd.DataFrame(summary["task_mix"])[list(MIX_COLUMNS)],
        steps=int(summary["steps"]),
        resumed_from=summary.get("resumed_from"),
        seconds=float(summary["seconds"]),
    )



def with_run_id(rows: list[dict[str, Any]], run_id: str | None, columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    if run_id is not None:
        df.insert(0, "run_id", run_id)
    return df



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



def dev_table(dev_metrics: pd.DataFrame) -> pd.DataFrame:
    """Dev metrics as a task x metric table with one column per evaluated step (step 0 = untrained heads)."""
    table = dev_metrics.pivot_table(index=["task", "metric"], columns="step", values="value", sort=False)
    table.columns = [f"step {c}" for c in table.columns]
    return table.round(2)



def checkpoints(out: Path) -> list[Path]:
    root = out / "checkpoints"
    return sorted(p for p in root.glob("step-*") if (p / CHECKPOINT_STATE).is_file()) if root.is_dir() else []



def save_checkpoint(accelerator: Any, out: Path, step: int, state: dict[str, Any]) -> Path:
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
        for old in checkpoints(out):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final



def save_encoder(model: MultiTaskModel, tokenizer: Any, base_path: str | None, out: Path, config: TrainConfig, step: int) -> tuple[Path, Path]:
    """The encoder in Hugging Face format (plus the base model's non-weight json, e.g. xit_encoder.json) and heads.pt."""
    enc_dir, tmp = out / "encoder", out / ".encoder.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    frozen = shared_frozen_weights(model.encoder) if config.freeze_word_embeddings else []
    if frozen and base_path and Path(base_path).is_dir() and not is_delta(base_path):
        save_delta(model.encoder, tmp, base_path, frozen)  # ~85 MB instead of ~470 MB for e5-small
    else:
        model.encoder.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if base_path and Path(base_path).is_dir():
        for src in Path(base_path).glob("*.json"):
            if not (tmp / src.name).exists() and not src.name.endswith(WEIGHT_SUFFIXES) and src.name != DELTA_META:
                shutil.copy2(src, tmp / src.name)
    write_json_atomic(
        {"base_model": config.model, "tasks": list(config.tasks), "steps": step, "seed": config.seed,
         "config": dataclasses.asdict(config)},
        tmp / "xit_training.json",
    )
    shutil.rmtree(enc_dir, ignore_errors=True)
    os.replace(tmp, enc_dir)
    heads = {name: {"head": model.head_types[name].name, "pooling": getattr(head, "pooling", "first"),
                    "state_dict": _head_state(model.head_types[name].name, head)}
             for name, head in model.heads.items()}
    heads_path = out / "heads.pt"
    torch.save({"hidden_size": model.encoder.config.hidden_size, "heads": heads}, str(heads_path) + ".tmp")
    os.replace(str(heads_path) + ".tmp", heads_path)
    return enc_dir, heads_path



def shared_frozen_weights(encoder: nn.Module) -> list[str]:
    """State-dict names of the frozen word-embedding matrix (training never changes it)."""
    weight = encoder.get_input_embeddings().weight
    if weight.requires_grad:
        return []
    return [name for name, tensor in encoder.state_dict(keep_vars=True).items() if tensor is weight]


def _head_state(head_name: str, head: nn.Module) -> dict[str, torch.Tensor]:
    """A head's weights to save; the MLM head's decoder is the word-embedding matrix, which is not copied."""
    if head_name == "mlm":
        from xit.mlm import head_state_dict

        return head_state_dict(head)
    return {k: v.detach().cpu() for k, v in head.state_dict().items()}


def load_heads(path: str | Path) -> dict[str, nn.Module]:
    """The task heads saved by ``train`` (``heads.pt``), rebuilt as modules keyed by task name.

    An MLM head is left out: it is tied to an encoder (rebuild it with ``xit.mlm.load_head_state``).
    """
    from xit.tasks import get_task

    saved = torch.load(str(path), map_location="cpu", weights_only=True)
    heads = {}
    for name, entry in saved["heads"].items():
        if entry["head"] == "mlm":
            continue
        # Pooling has no parameters, so it is stored beside the state dict (older files: first token).
        head = get_head_type(entry["head"]).build(get_task(name), saved["hidden_size"], pooling=entry.get("pooling", "first"))
        head.load_state_dict(entry["state_dict"])
        heads[name] = head
    return heads



def check_output_dir(out: Path, config: TrainConfig) -> TrainResult | None:
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
        return load_result(out)
    return None
