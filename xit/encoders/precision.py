"""Numeric precision for encoding: fp32, bf16 autocast, or "auto" (bf16 only where the CPU computes it natively).

bf16 autocast runs every CPU, but only CPUs with bf16 instructions (AVX512_BF16, AMX) compute it
fast; elsewhere (e.g. AVX2-only Zen 3) oneDNN converts to fp32 around each matmul and is several
times slower than fp32 (docs/speed.md has the measurement), so "auto" picks fp32 there.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from xit.config import choice

PRECISIONS = ("fp32", "bf16", "auto")
#: /proc/cpuinfo flags of x86 CPUs with native bf16 dot products (Cooper Lake, Zen 4+, Sapphire Rapids AMX).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU feature flags Linux reports (empty where /proc/cpuinfo does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 instructions that oneDNN uses (per /proc/cpuinfo, else torch's probe)."""
    flags = _cpuinfo_flags()
    if flags:
        return any(f in flags for f in BF16_CPU_FLAGS)
    import torch

    # Non-Linux: ask oneDNN itself (a private but long-standing probe); absent means unknown -> no.
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(probe()) if probe is not None else False


def resolve_precision(name: str, device: Any = "cpu") -> str:
    """Turn "fp32" / "bf16" / "auto" into the precision to run ("fp32" or "bf16"); "auto" = bf16 only on a bf16 CPU."""
    choice(name, PRECISIONS, "precision")
    if name != "auto":
        return name
    if str(getattr(device, "type", device)) != "cpu":
        # Accelerators: not measured here, so the default keeps them in fp32 (ask for "bf16" explicitly).
        return "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def autocast_context(precision: str, device: Any = "cpu") -> contextlib.AbstractContextManager:
    """A context that runs matmuls in bf16 (torch.autocast) for "bf16", and a no-op for "fp32"."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    if precision != "bf16":
        raise ValueError(f"precision {precision!r} must be resolved to 'fp32' or 'bf16' first (resolve_precision)")
    return torch.autocast(str(getattr(device, "type", device)), dtype=torch.bfloat16)
