"""The multi-task model (shared encoder, one head per task), its optimizer groups and English dev evaluation."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch
from torch import nn

from xit.tasks.heads import HeadType, feature_length
from xit.training.config import TrainConfig
from xit.training.data import TaskData


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



def fresh_encoder(config: TrainConfig, encoder: Any | None) -> Any:
    """The base encoder to fine-tune: a private copy of a preloaded one, or loaded from config.model."""
    if encoder is None:
        from xit.encoders import load_encoder

        return load_encoder(config.model, device="cpu")
    return dataclasses.replace(encoder, model=copy.deepcopy(encoder.model).cpu())



def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases and layer norms; frozen parameters left out."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]



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
    if task.spec.head == "mlm":  # masked-token accuracy and nll, from the MLM head type itself
        return task.head_type.metrics(decoded)
    return compute_metrics(task.spec, decoded.predictions, decoded.references)



def dev_rows(model: MultiTaskModel, data: dict[str, TaskData], tokenizer: Any, config: TrainConfig, device: Any, step: int) -> list[dict[str, Any]]:
    rows = []
    for name, task in data.items():
        for metric, value in evaluate_task(model, name, task, tokenizer, config, device).items():
            rows.append({"step": step, "task": name, "metric": metric, "value": float(value), "n": len(task.dev_examples)})
    return rows



def start_weights(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """L2-SP's anchor θ₀: detached copies of the encoder's trainable parameters, on their device."""
    return {name: p.detach().clone() for name, p in encoder.named_parameters() if p.requires_grad}



def l2sp_distance(encoder: nn.Module, anchor: dict[str, torch.Tensor]) -> torch.Tensor:
    """Σ‖θ − θ₀‖² over the anchored encoder parameters (Li et al. 2018, arXiv 1802.01483), in fp32."""
    params = dict(encoder.named_parameters())
    return torch.stack([(params[name].float() - start.float()).pow(2).sum() for name, start in anchor.items()]).sum()
