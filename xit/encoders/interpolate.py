"""Weight interpolation between a start encoder and a trained one: θ(α) = (1 − α)·θ₀ + α·θ.

Evaluating θ(α) for α in [0, 1] shows whether what training changed helps retrieval gradually
(Wortsman et al. 2022, "Robust fine-tuning of zero-shot models", arXiv 2109.01903, WiSE-FT;
Ilharco et al. 2023, "Editing models with task arithmetic", arXiv 2212.04089). α = 0 reproduces
the start model's weights exactly and α = 1 the trained ones (the other term is multiplied by 0.0).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import torch

from xit.encoders.delta import DELTA_META
from xit.errors import XitConfigError

#: Architecture fields two encoders must share to be interpolated.
ARCHITECTURE_FIELDS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                       "vocab_size", "max_position_embeddings", "type_vocab_size")

#: Weight files save_pretrained writes; everything else of the trained folder (tokenizer, xit metadata) is copied.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt")

META_FILE = "xit_interpolation.json"


def _check_same_architecture(base: object, trained: object, base_name: str, trained_name: str) -> None:
    """Refuse encoders of different architectures, naming the first field or weight that differs."""
    for name in ARCHITECTURE_FIELDS:
        a, b = getattr(base.config, name, None), getattr(trained.config, name, None)  # type: ignore[attr-defined]
        if a != b:
            raise XitConfigError(f"cannot interpolate {base_name!r} and {trained_name!r}: config.{name} differs ({a} vs {b}); "
                                 "interpolate a trained encoder with the model it was trained from")
    sd0, sd1 = base.state_dict(), trained.state_dict()  # type: ignore[attr-defined]
    missing, extra = sorted(set(sd0) - set(sd1)), sorted(set(sd1) - set(sd0))
    if missing or extra:
        raise XitConfigError(f"cannot interpolate {base_name!r} and {trained_name!r}: weights differ "
                             f"(only in the base: {missing[:3]}, only in the trained: {extra[:3]})")
    for key, tensor in sd0.items():
        if tensor.shape != sd1[key].shape:
            raise XitConfigError(f"cannot interpolate {base_name!r} and {trained_name!r}: {key} has shape "
                                 f"{tuple(tensor.shape)} vs {tuple(sd1[key].shape)}")


def interpolated_state(base: dict[str, torch.Tensor], trained: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """(1 − α)·θ₀ + α·θ for floating tensors; integer buffers (position ids) must agree and are kept."""
    out = {}
    for key, theta0 in base.items():
        theta = trained[key]
        if theta0.is_floating_point():
            out[key] = ((1.0 - alpha) * theta0.float() + alpha * theta.float()).to(theta.dtype)
        else:
            if not torch.equal(theta0, theta):
                raise XitConfigError(f"cannot interpolate: the integer buffer {key} differs between the two encoders")
            out[key] = theta.clone()
    return out


def interpolate_encoder(base: str | Path, trained: str | Path, alpha: float, out_dir: str | Path) -> Path:
    """Write θ(α) = (1 − α)·θ₀ + α·θ to out_dir (HF format, the trained folder's tokenizer and metadata); return it.

    ``base``: the start model (hub id, local directory or the offline alias); ``trained``: an encoder
    folder trained from it (e.g. a grid's ``encoders/<key>/encoder``). Both must share one architecture.
    """
    from xit.encoders.loading import load_encoder

    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not math.isfinite(alpha) or not 0 <= alpha <= 1:
        raise XitConfigError(f"alpha={alpha!r} must be a number in [0, 1] (0 = the start model, 1 = the trained one)")
    trained_dir = Path(trained)
    if not (trained_dir / "config.json").is_file():
        raise XitConfigError(f"trained encoder {str(trained_dir)!r} is not a model folder (no config.json); "
                             "train it first (notebook 01 writes <output_dir>/encoder)")
    start, end = load_encoder(str(base), device="cpu"), load_encoder(str(trained_dir), device="cpu")
    _check_same_architecture(start.model, end.model, str(base), str(trained_dir))
    state = interpolated_state(start.model.state_dict(), end.model.state_dict(), float(alpha))
    end.model.load_state_dict(state)
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for src in trained_dir.iterdir():  # tokenizer files and xit metadata (e.g. the e5 prefixes)
        # A trained delta's metadata must not follow: θ(α) is written whole (save_pretrained) below.
        if src.is_file() and not src.name.endswith(WEIGHT_SUFFIXES) and src.name != DELTA_META:
            shutil.copy2(src, tmp / src.name)
    end.model.save_pretrained(tmp)
    (tmp / META_FILE).write_text(json.dumps({"base": str(base), "trained": str(trained_dir), "alpha": float(alpha)},
                                            indent=2), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out
