"""Run kinds: what a run is besides its tasks. A kind = a recipe override + a label (table-driven).

``none`` is the untrained baseline (k = 0) and ``task`` ordinary intermediate training. Control kinds
are listed under a grid's ``controls:``; each reads a few fields of its block and turns them into
TrainConfig overrides (``override``), or derives the evaluated weights from a trained encoder without
training anything itself (``derive``, e.g. interpolation). Adding a kind is one ``RunKind`` entry here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xit.errors import XitConfigError


@dataclass(frozen=True)
class RunKind:
    """One kind of run: its recipe override, the block fields it needs, and how its weights are made."""

    name: str
    #: Block fields the kind reads (besides kind, name, subsets, budgets), each checked by ``check``.
    params: tuple[str, ...] = ()
    #: block params -> TrainConfig fields set on top of the grid's recipe.
    override: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    #: (base model, trained encoder dir, run params, out dir) -> evaluated encoder dir; None = evaluate the trained one.
    derive: Callable[[str, Path, dict[str, Any], Path], Path] | None = None
    #: block, where -> the block's params, validated (a clear XitConfigError otherwise).
    check: Callable[[dict[str, Any], str], dict[str, Any]] | None = None
    #: One block param expands into one run per value (e.g. alphas -> alpha).
    per_value: tuple[str, str] | None = None

    def recipe(self, params: dict[str, Any]) -> dict[str, Any]:
        """The TrainConfig overrides of a run of this kind."""
        return dict(self.override(params)) if self.override else {}


def _positive_number(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise XitConfigError(f"{where}={value!r} must be a positive number")
    return float(value)


def _check_l2sp(block: dict[str, Any], where: str) -> dict[str, Any]:
    if "coefficient" not in block:
        raise XitConfigError(f"{where} (kind l2sp) needs coefficient:, the L2-SP weight, e.g. coefficient: 0.01")
    return {"coefficient": _positive_number(block["coefficient"], f"{where}.coefficient")}


def _check_interpolation(block: dict[str, Any], where: str) -> dict[str, Any]:
    alphas = block.get("alphas")
    if not isinstance(alphas, list) or not alphas:
        raise XitConfigError(f"{where} (kind interpolation) needs alphas:, a list of weights in [0, 1], e.g. [0.25, 0.5, 0.75]")
    for alpha in alphas:
        if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not 0 <= alpha <= 1:
            raise XitConfigError(f"{where}.alphas holds {alpha!r}; each alpha must be a number in [0, 1] "
                                 "(0 = the start model, 1 = the trained one)")
    if len(set(alphas)) != len(alphas):
        raise XitConfigError(f"{where}.alphas={alphas} lists a value more than once")
    return {"alphas": [float(a) for a in alphas]}


def _interpolate(model: str, trained: Path, params: dict[str, Any], out_dir: Path) -> Path:
    from xit.encoders.interpolate import interpolate_encoder

    return interpolate_encoder(model, trained, params["alpha"], out_dir)


def _check_mlm(block: dict[str, Any], where: str) -> dict[str, Any]:
    corpus = block.get("corpus", {})
    if not isinstance(corpus, dict):
        raise XitConfigError(f"{where}.corpus={corpus!r} must be a mapping of MLM corpus fields (source, languages, max_sentences, ...)")
    from xit.mlm import MLMCorpusSpec

    MLMCorpusSpec.from_dict(corpus, f"{where}.corpus")
    return {"corpus": corpus}


RUN_KINDS: dict[str, RunKind] = {
    kind.name: kind
    for kind in (
        RunKind("none"),
        RunKind("task"),
        # Labels destroyed within each task: what training on the task's inputs alone does.
        RunKind("shuffled_labels", override=lambda p: {"label_control": "shuffled"}),
        # L2-SP (Li et al. 2018, arXiv 1802.01483): training pulled toward the start weights.
        RunKind("l2sp", params=("coefficient",), override=lambda p: {"l2sp": p["coefficient"]}, check=_check_l2sp),
        # Weight interpolation θ(α) = (1 − α)·θ₀ + α·θ (Wortsman et al. 2022, arXiv 2109.01903): evaluation only.
        RunKind("interpolation", params=("alphas",), derive=_interpolate, check=_check_interpolation,
                per_value=("alphas", "alpha")),
        # Continued multilingual MLM at the budget of the block's subsets (Phang et al. 2020's own control):
        # the same loop, steps and frozen parts, MLM on unevaluated-language text instead of the English tasks.
        RunKind("mlm", params=("corpus",), override=lambda p: {"objective": "mlm", "mlm_corpus": p["corpus"]}, check=_check_mlm),
    )
}

#: Kinds a grid's controls: may name.
CONTROL_KINDS = tuple(k for k in RUN_KINDS if k not in ("none", "task"))


def get_kind(name: str) -> RunKind:
    """The kind called ``name``; an unknown one fails listing the known ones."""
    from xit.config import choice

    return RUN_KINDS[choice(name, tuple(RUN_KINDS), "kind")]
