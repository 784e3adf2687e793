"""Measurements behind benchmarks/grid_run.py: encode throughput, batching, precision, the matmul floor, a bf16 training step.

Every function times real work on the loaded encoder and returns plain dicts, so the
runner can print one Markdown table per question.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from xit.encoders import encode_texts


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """fn(*args, **kwargs) and its wall time in seconds."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def token_lengths(enc, texts: list[str], prefix: str, max_length: int = 256) -> np.ndarray:
    """Token count of every text as encode_texts sees it (prefix, truncation, special tokens)."""
    ids = enc.tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    return np.array([len(i) for i in ids])


def forward_flops(lengths: np.ndarray, config: Any) -> float:
    """Forward FLOPs of a BERT encoder on texts of these lengths, each text its own sequence (no padding).

    Per token per layer: 2 x (4 H^2 + 2 H F) for the linear maps, plus 4 L H for QK^T and AV.
    """
    h, f, n_layers = int(config.hidden_size), int(config.intermediate_size), int(config.num_hidden_layers)
    linear = 2.0 * (4 * h * h + 2 * h * f) * n_layers * lengths.sum()
    attention = 4.0 * h * n_layers * float((lengths.astype(np.float64) ** 2).sum())
    return float(linear + attention)


def matmul_gflops(dtype_name: str, m: int, k: int, n: int, reps: int = 10) -> float:
    """Sustained GFLOP/s of torch.matmul on an (m, k) x (k, n) product in fp32 or bf16."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=gen).to(dtype), torch.randn(k, n, generator=gen).to(dtype)
    for _ in range(2):
        torch.matmul(a, b)
    _, seconds = timed(lambda: [torch.matmul(a, b) for _ in range(reps)])
    return 2.0 * m * k * n * reps / seconds / 1e9


def floor_table(tokens_per_batch: int = 2048) -> list[dict[str, Any]]:
    """Matmul throughput on e5-small's three GEMM shapes (QKV/out 384x384, FFN up 384x1536, down 1536x384)."""
    shapes = {"384x384 (q,k,v,out)": (384, 384), "384x1536 (ffn up)": (384, 1536), "1536x384 (ffn down)": (1536, 384)}
    rows = []
    for name, (k, n) in shapes.items():
        rows.append({"shape": f"{tokens_per_batch}x{name}", "fp32 GFLOP/s": matmul_gflops("fp32", tokens_per_batch, k, n),
                     "bf16 GFLOP/s": matmul_gflops("bf16", tokens_per_batch, k, n)})
    return rows


def encode_rate(enc, texts: list[str], prefix: str, layers: Any, **kwargs: Any) -> dict[str, float]:
    """Texts/s and tokens/s of one encode_texts call (kwargs: batch_size, precision, batching)."""
    lengths = token_lengths(enc, texts, prefix)
    _, seconds = timed(encode_texts, enc, texts, layers=layers, prefix=prefix, progress=False, **kwargs)
    return {"texts": len(texts), "tokens": int(lengths.sum()), "seconds": seconds,
            "texts_per_s": len(texts) / seconds, "tokens_per_s": float(lengths.sum()) / seconds}


def batching_table(enc, samples: dict[str, tuple[list[str], str]], sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Encode throughput per batch size (length-sorted) and for unsorted / pad-to-max_length batches at 64."""
    rows = []
    for name, (texts, prefix) in samples.items():
        variants = [("sorted", b) for b in sizes] + [("unsorted", 64), ("max_length", 64)]
        for batching, batch_size in variants:
            r = encode_rate(enc, texts, prefix, [-1], batch_size=batch_size, precision="fp32", batching=batching)
            rows.append({"sample": name, "batching": batching, "batch_size": batch_size, **r})
    return rows


def precision_table(enc, samples: dict[str, tuple[list[str], str]]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """fp32 vs bf16 throughput per sample, and the cosine of bf16 to fp32 embeddings on the first sample."""
    rows, cosine = [], {}
    for i, (name, (texts, prefix)) in enumerate(samples.items()):
        embs = {}
        for precision in ("fp32", "bf16"):
            lengths = token_lengths(enc, texts, prefix)
            out, seconds = timed(encode_texts, enc, texts, layers=[6, -1], prefix=prefix, progress=False, precision=precision)
            embs[precision] = out
            rows.append({"texts": name, "precision": precision, "texts_n": len(texts), "tokens": int(lengths.sum()),
                         "seconds": seconds, "tokens_per_s": float(lengths.sum()) / seconds})
        if i == 0:
            for layer in embs["fp32"]:
                cos = (embs["fp32"][layer] * embs["bf16"][layer]).sum(axis=1)
                cosine[f"layer {layer} mean"], cosine[f"layer {layer} min"] = float(cos.mean()), float(cos.min())
    return rows, cosine


def training_step_table(enc, steps: int = 3, batch_size: int = 16, length: int = 64) -> list[dict[str, Any]]:
    """Seconds per forward+backward+AdamW step of the e5 BertModel (frozen word embeddings), fp32 vs bf16 autocast."""
    import copy

    import torch

    rows = []
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = copy.deepcopy(enc.model).train()
        model.get_input_embeddings().weight.requires_grad_(False)
        head = torch.nn.Linear(model.config.hidden_size, 3)
        params = [p for p in list(model.parameters()) + list(head.parameters()) if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-5)
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(5, model.config.vocab_size, (batch_size, length), generator=gen)
        labels = torch.randint(0, 3, (batch_size,), generator=gen)
        times = []
        for step in range(steps + 1):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
                loss = torch.nn.functional.cross_entropy(head(hidden[:, 0]).float(), labels)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if step:  # the first step pays one-off allocations
                times.append(time.perf_counter() - start)
        rows.append({"precision": precision, "seconds_per_step": float(np.median(times)), "steps": steps, "loss": float(loss.detach())})
    return rows
