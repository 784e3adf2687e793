"""Sentence embeddings from any layer, all requested layers from one forward pass."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xit.config import choice
from xit.encoders.loading import Encoder
from xit.errors import XitConfigError


def resolve_layers(encoder: Encoder, layers: Sequence[int] | str | int) -> list[int]:
    """Turn layer requests (ints, negatives from the top, or 'all') into hidden_states indices."""
    n = encoder.num_layers
    if isinstance(layers, str):
        if layers != "all":
            raise XitConfigError(f"layers={layers!r} is not valid; give a list of integers in 0..{n} (0 = embeddings, {n} = last, -1 = last) or 'all'")
        return list(range(n + 1))
    if isinstance(layers, int):
        layers = [layers]
    resolved: list[int] = []
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -(n + 1) <= int(layer) <= n:
            raise XitConfigError(
                f"layer {layer!r} is out of range for {encoder.name!r} with {n} layers; "
                f"use 0..{n} (0 = embeddings, {n} = last) or negatives from -1 (last) to -{n + 1}"
            )
        index = int(layer) % (n + 1)
        if index not in resolved:
            resolved.append(index)
    if not resolved:
        raise XitConfigError("layers is empty; name at least one layer, e.g. [-1]")
    return resolved


#: How batches are formed: length-sorted with dynamic padding (default), input order with dynamic
#: padding, or input order padded to max_length (the last two exist to measure what sorting saves).
BATCHING = ("sorted", "unsorted", "max_length")
#: Measured on 2 Zen 3 cores (benchmarks/grid_run.py, docs/speed.md): with length-sorted batches 64 was the
#: fastest for short texts (16: 1.4x slower, 128: 1.1x) and 16-128 were within noise for long ones.
DEFAULT_BATCH_SIZE = 64


def _batch_order(lengths: np.ndarray, batching: str) -> np.ndarray:
    """Encoding order: longest first when sorting (padding per batch stays small), else input order."""
    if batching == "sorted":
        return np.argsort(-lengths, kind="stable")
    return np.arange(len(lengths))


def encode_texts(
    encoder: Encoder,
    texts: Sequence[str],
    layers: Sequence[int] | str | int = (-1,),
    prefix: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_length: int = 256,
    exclude_special: bool = False,
    progress: bool = True,
    desc: str = "encoding",
    precision: str = "fp32",
    batching: str = "sorted",
) -> dict[int, np.ndarray]:
    """Mean-pooled, L2-normalised float32 embeddings per requested layer (keys are hidden_states indices).

    ``precision``: "fp32" (default), "bf16" (torch.autocast) or "auto" (bf16 only on a CPU with native
    bf16, see xit.encoders.precision). Pooling and normalisation always run in float32. The default
    stays fp32 until bf16's retrieval metrics are shown to match (docs/speed.md).
    """
    import torch
    from tqdm.auto import tqdm

    from xit.encoders.precision import autocast_context, resolve_precision

    wanted = resolve_layers(encoder, layers)
    choice(batching, BATCHING, "batching")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise XitConfigError(f"batch_size={batch_size!r} must be a positive integer, e.g. {DEFAULT_BATCH_SIZE}")
    device = encoder.device
    run_precision = resolve_precision(precision, device)
    dim = int(encoder.model.config.hidden_size)
    out = {layer: np.zeros((len(texts), dim), dtype=np.float32) for layer in wanted}
    if len(texts) == 0:
        return out
    tok = encoder.tokenizer
    enc = tok([prefix + t for t in texts], truncation=True, max_length=max_length, return_special_tokens_mask=exclude_special)
    lengths = np.array([len(ids) for ids in enc["input_ids"]])
    order = _batch_order(lengths, batching)
    pad_kwargs = {"padding": "max_length", "max_length": max_length} if batching == "max_length" else {}
    bar = tqdm(total=len(texts), desc=desc, unit="sent", disable=not progress, leave=False)
    with torch.inference_mode(), autocast_context(run_precision, device):
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            feats = [{k: enc[k][i] for k in ("input_ids", "attention_mask")} for i in idx]
            batch = tok.pad(feats, return_tensors="pt", **pad_kwargs).to(device)
            hidden = encoder.model(**batch, output_hidden_states=True).hidden_states
            mask = batch["attention_mask"].clone()
            if exclude_special:
                special = [enc["special_tokens_mask"][i] for i in idx]
                for row, sm in enumerate(special):
                    mask[row, : len(sm)] *= 1 - torch.tensor(sm, device=device)
            weights = mask.unsqueeze(-1).float()
            denom = weights.sum(1).clamp(min=1.0)
            for layer in wanted:
                pooled = (hidden[layer].float() * weights).sum(1) / denom
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[layer][idx] = pooled.cpu().numpy()
            bar.update(len(idx))
    bar.close()
    return out
