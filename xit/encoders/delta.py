"""Trained encoders saved as a delta: only the weights training could change, the frozen rest read from the base.

With frozen word embeddings (the CPU grids' recipe) the 96M-parameter embedding matrix of e5-small
equals the start model's, so writing it per run is ~380 MB of pure weight traffic. A delta directory
holds the model config, the tokenizer, ``xit_delta.safetensors`` (every other tensor) and
``xit_delta.json`` naming the base model and a fingerprint of the shared tensors. The weights file
has a name transformers does not look for, so ``AutoModel.from_pretrained`` on a delta directory
fails loudly instead of silently initialising the missing matrix; ``xit.encoders.load_encoder``
loads it whole.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from xit.errors import XitConfigError

DELTA_WEIGHTS = "xit_delta.safetensors"
DELTA_META = "xit_delta.json"


def tensor_fingerprint(tensor: Any) -> str:
    """A cheap, stable fingerprint of a large tensor: shape plus a hash of every 97th row (exact bytes)."""
    rows = tensor.detach().cpu().contiguous()[::97]
    digest = hashlib.sha256(str(tuple(tensor.shape)).encode())
    digest.update(rows.numpy().tobytes())
    return digest.hexdigest()[:16]


def save_delta(model: Any, out_dir: str | Path, base_path: str, shared: list[str]) -> Path:
    """Write model's config and every tensor except ``shared`` (which must equal the base's) to out_dir."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    missing = [name for name in shared if name not in state]
    if missing:
        raise XitConfigError(f"cannot save a delta: {missing[0]!r} is not a tensor of this model")
    model.config.save_pretrained(out)
    # safetensors refuses tensors that share memory; a delta never holds the tied ones anyway.
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items() if k not in shared}, str(out / DELTA_WEIGHTS))
    meta = {"base_model": str(base_path), "shared": list(shared),
            "fingerprints": {name: tensor_fingerprint(state[name]) for name in shared}}
    (out / DELTA_META).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    return out


def is_delta(path: str | Path) -> bool:
    """True when path is a delta directory written by ``save_delta``."""
    return (Path(path) / DELTA_META).is_file()


def load_delta(path: str | Path, model_kwargs: dict[str, Any]) -> Any:
    """The full model of a delta directory: the base model's weights with the delta's tensors loaded over them."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    path = Path(path)
    meta = json.loads((path / DELTA_META).read_text(encoding="utf-8"))
    base = Path(meta["base_model"])
    if not (base / "config.json").is_file():
        raise XitConfigError(
            f"encoder {str(path)!r} is saved as a delta over {str(base)!r}, which is gone; "
            "restore that base model directory (e.g. `python -m xit convert`) or retrain this run"
        )
    config = AutoConfig.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(base), config=config, **model_kwargs)
    result = model.load_state_dict(load_file(str(path / DELTA_WEIGHTS)), strict=False)
    if sorted(result.missing_keys) != sorted(meta["shared"]) or result.unexpected_keys:
        raise XitConfigError(
            f"encoder {str(path)!r}: its delta does not fit the base model {str(base)!r} "
            f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]}); retrain this run"
        )
    state = model.state_dict()
    changed = [n for n, fp in meta["fingerprints"].items() if tensor_fingerprint(state[n]) != fp]
    if changed:
        raise XitConfigError(
            f"encoder {str(path)!r}: the base model {str(base)!r} changed since training ({changed[0]} differs); "
            "retrain this run, or restore the base model it was trained from"
        )
    return model
