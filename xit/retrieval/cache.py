"""An on-disk embedding cache, so re-evaluating a checkpoint does no encoding.

Embeddings are stored per (checkpoint fingerprint, encoding settings) and addressed by the
hash of each text, in shards written atomically after each encoding call: a crash loses at most
the call in flight, a second evaluation (another metric, another target sharing texts, the same
run again) finds every text and encodes nothing. Settings = prefix, pooling, max_length,
exclude_special, precision, plus `xit.RESULTS_VERSION` (bumped whenever numbers would change, so a
change of preprocessing never reuses stale embeddings); each layer is its own array, so adding a layer
encodes only once more.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xit import RESULTS_VERSION
from xit.encoders import encode_texts
from xit.paths import cache_dir

#: Weight/config files whose identity defines a local checkpoint.
_CHECKPOINT_FILES = (".safetensors", ".bin", ".json", ".model", ".txt")


@dataclass(frozen=True)
class EncodeSettings:
    """Everything besides the checkpoint and text that changes an embedding."""

    prefix: str = ""
    pooling: str = "mean"
    max_length: int = 256
    exclude_special: bool = False
    precision: str = "fp32"

    def key(self) -> str:
        """A short stable hash of the settings and the results version."""
        payload = dict(asdict(self), results_version=RESULTS_VERSION)
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def encode_options() -> frozenset[str]:
    """Keyword parameters `xit.encoders.encode_texts` accepts (pooling/precision are passed only where it has them)."""
    from xit import encoders

    return frozenset(inspect.signature(encoders.encode_texts).parameters)


def checkpoint_fingerprint(enc) -> str:
    """Identity of a checkpoint: its local files (name, size, mtime) or its hub name and revision."""
    path = Path(str(getattr(enc, "path", "") or ""))
    h = hashlib.sha1(str(getattr(enc, "name", "")).encode())
    if path.is_dir():
        h.update(str(path.resolve()).encode())
        for f in sorted(path.rglob("*")):
            if f.is_file() and f.suffix in _CHECKPOINT_FILES:
                st = f.stat()
                h.update(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}".encode())
    else:
        config = getattr(getattr(enc, "model", None), "config", None)
        h.update(str(getattr(config, "_commit_hash", "") or "").encode())
    return h.hexdigest()[:20]


def text_hash(text: str) -> bytes:
    """A 16-byte digest of one text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """Text-addressed embeddings of one checkpoint; ``root=None`` keeps them in memory only."""

    def __init__(self, fingerprint: str, root: Path | None = None):
        self.fingerprint = fingerprint
        self.root = Path(root) / fingerprint if root is not None else None
        self._index: dict[tuple[str, int], dict[bytes, tuple[int, int]]] = {}
        self._arrays: dict[tuple[str, int], list[np.ndarray]] = {}
        self._loaded: set[str] = set()
        self.encoded_texts = 0  # texts actually sent to the encoder by this instance

    @classmethod
    def for_encoder(cls, enc, root: str | Path | None | bool = True) -> EmbeddingCache:
        """The cache of an encoder: under $XIT_CACHE_DIR/embeddings (True), a given folder, or memory only (False/None)."""
        if root is True:
            root = cache_dir() / "embeddings"
        elif root is False:
            root = None
        return cls(checkpoint_fingerprint(enc), Path(root) if root else None)

    def _load(self, skey: str) -> None:
        if skey in self._loaded:
            return
        self._loaded.add(skey)
        folder = self.root / skey if self.root is not None else None
        if folder is None or not folder.is_dir():
            return
        for shard in sorted(folder.glob("shard-*")):
            if not (shard / "done").exists():
                continue
            hashes = np.load(shard / "hashes.npy")
            for layer_file in shard.glob("layer_*.npy"):
                layer = int(layer_file.stem.split("_")[1])
                self._add(skey, layer, hashes, np.load(layer_file, mmap_mode="r"))

    def _add(self, skey: str, layer: int, hashes: np.ndarray, array: np.ndarray) -> None:
        arrays = self._arrays.setdefault((skey, layer), [])
        index = self._index.setdefault((skey, layer), {})
        arrays.append(array)
        a = len(arrays) - 1
        for row, h in enumerate(hashes):
            index[h.tobytes()] = (a, row)

    def _write_shard(self, skey: str, settings: EncodeSettings, hashes: np.ndarray, embs: dict[int, np.ndarray]) -> None:
        if self.root is None:
            return
        folder = self.root / skey
        shard = folder / f"shard-{uuid.uuid4().hex}"
        shard.mkdir(parents=True, exist_ok=True)
        (folder / "settings.json").write_text(json.dumps(dict(asdict(settings), results_version=RESULTS_VERSION), sort_keys=True))
        np.save(shard / "hashes.npy", hashes)
        for layer, arr in embs.items():
            np.save(shard / f"layer_{layer}.npy", arr)
        # The marker is written last: a shard without it (a crash mid-write) is ignored.
        with open(shard / "done", "w") as f:
            f.write("ok")
            f.flush()
            os.fsync(f.fileno())

    def embed(
        self,
        enc,
        texts: list[str],
        layers: list[int],
        settings: EncodeSettings,
        batch_size: int = 64,
        progress: bool = True,
        desc: str | None = None,
    ) -> dict[int, np.ndarray]:
        """Embeddings of ``texts`` (row i = texts[i]) for each layer, encoding only texts not cached yet."""
        skey = settings.key()
        self._load(skey)
        hashes = [text_hash(t) for t in texts]
        missing: dict[bytes, str] = {}
        for h, t in zip(hashes, texts):
            if h not in missing and any(h not in self._index.get((skey, layer), {}) for layer in layers):
                missing[h] = t
        if missing:
            options = encode_options()
            extra = {name: getattr(settings, name) for name in ("pooling", "precision") if name in options}
            new = encode_texts(
                enc,
                list(missing.values()),
                layers=list(layers),
                prefix=settings.prefix,
                batch_size=batch_size,
                max_length=settings.max_length,
                exclude_special=settings.exclude_special,
                progress=progress,
                desc=desc,
                **extra,
            )
            self.encoded_texts += len(missing)
            new_hashes = np.frombuffer(b"".join(missing), dtype=np.uint8).reshape(-1, 16)
            new = {int(layer): np.asarray(new[layer], dtype=np.float32) for layer in layers}
            self._write_shard(skey, settings, new_hashes, new)
            for layer, arr in new.items():
                self._add(skey, layer, new_hashes, arr)
        out = {}
        for layer in layers:
            index, arrays = self._index[(skey, layer)], self._arrays[(skey, layer)]
            out[layer] = np.stack([arrays[a][r] for a, r in (index[h] for h in hashes)]) if hashes else np.zeros((0, 0), np.float32)
        return out
