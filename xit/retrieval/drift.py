"""Why retrieval moves: how far training carried an encoder from its start, layer by layer.

Three views per encoder layer (``layer`` = hidden_states index, 0 = embeddings):

- ``param_distance``: ‖θ_l − θ₀_l‖ / ‖θ₀_l‖ over all weights of that layer (how far the weights moved);
- ``cka``: linear CKA (Kornblith et al. 2019, arXiv 1905.00414) between the start and trained
  mean-pooled sentence representations of a fixed probe (1 = the same geometry up to rotation and scale);
- ``alignment_gap``: mean cosine of translation pairs minus mean cosine of non-pairs on the probe,
  per language and overall ("all"), for the trained model and (``alignment_gap_base``) for its start.

The probe is a seeded sample of Tatoeba pairs (English + translation) in a few languages of
different scripts. Evaluation side only: this module never imports ``xit.training``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xit.errors import XitConfigError
from xit.retrieval.cache import EmbeddingCache, EncodeSettings
from xit.retrieval.data import load_tatoeba

DRIFT_COLUMNS = ["layer", "metric", "language", "value"]

_BLOCK = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


@dataclass(frozen=True)
class DriftProbe:
    """A fixed, seeded sample of ``n`` Tatoeba pairs per language (English side + translation)."""

    languages: tuple[str, ...] = ("deu", "rus", "cmn", "ara")
    n: int = 500
    seed: int = 0
    data_dir: str | None = None

    def texts(self) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
        """All probe texts and, per language, the row indices of its English and translated sides."""
        if not self.languages:
            raise XitConfigError("DriftProbe.languages is empty; name Tatoeba codes, e.g. ('deu', 'rus', 'cmn', 'ara')")
        if not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 2:
            raise XitConfigError(f"DriftProbe.n={self.n!r} must be an integer >= 2 (pairs per language; 500 is the default)")
        root = Path(self.data_dir) if self.data_dir else None
        texts: list[str] = []
        sides = {}
        for language in self.languages:
            pair = load_tatoeba(language, root=root)
            # Seeded by (seed, language): a language draws the same sentences whatever else is in the probe.
            rng = np.random.default_rng([self.seed, int.from_bytes(hashlib.sha256(language.encode()).digest()[:8], "little")])
            pick = np.sort(rng.choice(len(pair.eng), size=min(self.n, len(pair.eng)), replace=False))
            start = len(texts)
            texts += [pair.eng[j] for j in pick] + [pair.src[j] for j in pick]
            k = len(pick)
            sides[language] = (np.arange(start, start + k), np.arange(start + k, start + 2 * k))
        return texts, sides


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two representations of the same n examples (rows): ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) after centring."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise XitConfigError(f"linear_cka needs two 2-d arrays with the same rows; got shapes {x.shape} and {y.shape}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    # The feature-space form costs O(n d²); d (hidden size) is small next to n in our probes.
    cross = np.linalg.norm(y.T @ x) ** 2
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / denom) if denom > 0 else float("nan")


def alignment_gap(english: np.ndarray, foreign: np.ndarray) -> float:
    """Mean cosine of translation pairs (row i with row i) minus mean cosine of all non-pairs."""
    e = english / np.linalg.norm(english, axis=1, keepdims=True).clip(1e-12)
    f = foreign / np.linalg.norm(foreign, axis=1, keepdims=True).clip(1e-12)
    sims = e.astype(np.float64) @ f.astype(np.float64).T
    n = len(sims)
    pairs = np.trace(sims) / n
    others = (sims.sum() - np.trace(sims)) / (n * n - n)
    return float(pairs - others)


def layer_of(name: str) -> int | None:
    """The hidden_states index a parameter feeds: 0 for embeddings, i+1 for transformer block i, None otherwise."""
    match = _BLOCK.search(name)
    if match:
        return int(match.group(1)) + 1
    return 0 if "embeddings" in name.split(".") else None


def param_distances(base: Any, trained: Any) -> dict[int, float]:
    """‖θ_l − θ₀_l‖ / ‖θ₀_l‖ per layer over the weights both models share (by name)."""
    import torch

    start = dict(base.named_parameters())
    moved: dict[int, float] = {}
    norm: dict[int, float] = {}
    with torch.no_grad():
        for name, p in trained.named_parameters():
            layer = layer_of(name)
            if layer is None or name not in start:
                continue
            p0 = start[name].detach().to(device="cpu", dtype=torch.float64)
            p1 = p.detach().to(device="cpu", dtype=torch.float64)
            # Frozen tensors (the 96M-weight word embeddings of the CPU recipe) are equal: their term is exactly 0.
            step = 0.0 if torch.equal(p1, p0) else float((p1 - p0).pow(2).sum())
            moved[layer] = moved.get(layer, 0.0) + step
            norm[layer] = norm.get(layer, 0.0) + float(p0.pow(2).sum())
    if not norm:
        raise XitConfigError("the two models share no embedding or encoder-layer weights by name; compare checkpoints of one architecture")
    return {layer: (moved[layer] / norm[layer]) ** 0.5 for layer in sorted(norm)}


def probe_embeddings(enc: Any, texts: list[str], layers: list[int], cache: bool | str | None, batch_size: int,
                     progress: bool) -> dict[int, np.ndarray]:
    """Probe embeddings per layer, with Tatoeba's settings (passage prefix, 256 tokens) so the cache is shared."""
    store = EmbeddingCache.for_encoder(enc, cache if cache is not None else False)
    settings = EncodeSettings(prefix=getattr(enc, "passage_prefix", ""), max_length=256)
    return store.embed(enc, texts, layers, settings, batch_size=batch_size, progress=progress, desc="drift probe")


def _load(model: Any) -> Any:
    from xit.encoders import load_encoder

    return load_encoder(str(model)) if isinstance(model, (str, Path)) else model


def drift_table(base_model: Any, trained_model: Any, probe: DriftProbe | None = None,
                layers: Sequence[int] | str = "all", cache: bool | str | None = True,
                batch_size: int = 64, progress: bool = False) -> pd.DataFrame:
    """Rows (layer, metric, language, value): param_distance, cka, alignment_gap and alignment_gap_base."""
    from xit.encoders import resolve_layers

    probe = probe or DriftProbe()
    texts, sides = probe.texts()  # data problems fail before any model loads
    base, trained = _load(base_model), _load(trained_model)
    if base.num_layers != trained.num_layers:
        raise XitConfigError(f"base model has {base.num_layers} layers and trained model {trained.num_layers}; "
                             "drift compares a checkpoint with the model it was trained from")
    wanted = resolve_layers(trained, layers if isinstance(layers, str) else list(layers))
    start = probe_embeddings(base, texts, wanted, cache, batch_size, progress)
    end = probe_embeddings(trained, texts, wanted, cache, batch_size, progress)
    distance = param_distances(base.model, trained.model)
    rows = []
    for layer in wanted:
        if layer in distance:
            rows.append((layer, "param_distance", "all", distance[layer]))
        rows.append((layer, "cka", "all", linear_cka(start[layer], end[layer])))
        for metric, embs in (("alignment_gap", end), ("alignment_gap_base", start)):
            gaps = {lang: alignment_gap(embs[layer][e], embs[layer][f]) for lang, (e, f) in sides.items()}
            rows += [(layer, metric, lang, gap) for lang, gap in gaps.items()]
            rows.append((layer, metric, "all", float(np.mean(list(gaps.values())))))
    table = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    table.insert(0, "trained_model", str(getattr(trained, "path", "") or trained.name))
    table.insert(0, "base_model", str(getattr(base, "path", "") or base.name))
    return table


def drift_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per layer, one column per metric (languages averaged as 'all')."""
    overall = table[table["language"] == "all"]
    return overall.pivot_table(index="layer", columns="metric", values="value").round(4)


__all__ = ["DRIFT_COLUMNS", "DriftProbe", "alignment_gap", "drift_summary", "drift_table", "layer_of", "linear_cka", "param_distances"]
