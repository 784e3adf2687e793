"""The FLOP count behind every floor in docs/speed.md (benchmarks/speed_parts.forward_flops)."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from speed_parts import forward_flops  # noqa: E402

E5_SMALL = SimpleNamespace(hidden_size=384, intermediate_size=1536, num_hidden_layers=12)


def test_forward_flops_counts_linear_maps_and_attention_per_sequence():
    # One 10-token text: 2 x (4 H^2 + 2 H F) x L x 10 for the linear maps, 4 x H x L x 10^2 for QK^T and AV.
    assert forward_flops(np.array([10]), E5_SMALL) == 2 * (4 * 384**2 + 2 * 384 * 1536) * 12 * 10 + 4 * 384 * 12 * 100
    assert forward_flops(np.array([10]), E5_SMALL) == 426_516_480


def test_forward_flops_prices_two_short_texts_below_one_long_one():
    # Attention is quadratic per sequence: two 10-token texts cost less than one 20-token text (no cross-text attention).
    two = forward_flops(np.array([10, 10]), E5_SMALL)
    one = forward_flops(np.array([20]), E5_SMALL)
    assert one - two == 4 * 384 * 12 * (400 - 200)
