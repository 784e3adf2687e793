"""bf16 autocast encoding agrees with fp32; "auto" picks bf16 only on CPUs with native bf16; batching never changes embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xit.encoders import encode_texts, resolve_precision
from xit.encoders.precision import _cpuinfo_flags, cpu_supports_bf16
from xit.errors import XitConfigError

LANGS = ["deu", "fra", "spa", "rus", "cmn", "ara", "hin", "swh"]


@pytest.fixture(scope="module")
def tatoeba_64(data_dir) -> list[str]:
    """64 real Tatoeba sentences: the first 8 of each of 8 languages (4 scripts)."""
    sents = []
    for lang in LANGS:
        lines = (data_dir / "tatoeba-v1" / f"tatoeba.{lang}-eng.{lang}").read_text(encoding="utf-8").splitlines()
        sents += lines[:8]
    assert len(sents) == 64
    return sents


def test_bf16_embeddings_agree_with_fp32(e5_small, tatoeba_64):
    # bf16 autocast runs on any CPU (slowly without native bf16), so the numerics are checked everywhere.
    fp32 = encode_texts(e5_small, tatoeba_64, layers=[6, -1], prefix="passage: ", progress=False, precision="fp32")
    bf16 = encode_texts(e5_small, tatoeba_64, layers=[6, -1], prefix="passage: ", progress=False, precision="bf16")
    for layer in (6, 12):
        assert bf16[layer].dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(bf16[layer], axis=1), 1.0, atol=1e-5)
        cosine = (fp32[layer] * bf16[layer]).sum(axis=1)
        assert cosine.mean() >= 0.999, f"layer {layer}: mean cosine {cosine.mean():.5f}"
        assert cosine.min() >= 0.995, f"layer {layer}: min cosine {cosine.min():.5f}"
        assert not np.array_equal(fp32[layer], bf16[layer]), "bf16 autocast did not change the computation"


def test_batching_modes_give_the_same_embeddings(e5_small, tatoeba_64):
    texts = tatoeba_64[:24]
    sorted_ = encode_texts(e5_small, texts, layers=[-1], progress=False, precision="fp32", batch_size=8)[12]
    unsorted = encode_texts(e5_small, texts, layers=[-1], progress=False, precision="fp32", batch_size=8, batching="unsorted")[12]
    padded = encode_texts(e5_small, texts, layers=[-1], progress=False, precision="fp32", batch_size=8,
                          batching="max_length", max_length=48)[12]
    np.testing.assert_allclose(sorted_, unsorted, atol=2e-5)
    np.testing.assert_allclose(sorted_, padded, atol=2e-5)


def test_auto_precision_follows_the_cpu_flags(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n", encoding="utf-8")
    assert "avx512_bf16" in _cpuinfo_flags(cpuinfo)
    expected = "bf16" if cpu_supports_bf16() else "fp32"
    assert resolve_precision("auto") == expected
    assert resolve_precision("auto", device="cuda") == "fp32"
    assert resolve_precision("bf16") == "bf16" and resolve_precision("fp32") == "fp32"
    on_this_cpu = any(f in _cpuinfo_flags() for f in ("avx512_bf16", "amx_bf16"))
    assert cpu_supports_bf16() == on_this_cpu


def test_bad_precision_and_batching_are_refused(e5_small):
    with pytest.raises(XitConfigError, match="precision='fp16'.*bf16"):
        encode_texts(e5_small, ["x"], precision="fp16", progress=False)
    with pytest.raises(XitConfigError, match="batching='pad'"):
        encode_texts(e5_small, ["x"], batching="pad", progress=False)
    with pytest.raises(XitConfigError, match="batch_size=0"):
        encode_texts(e5_small, ["x"], batch_size=0, progress=False)
