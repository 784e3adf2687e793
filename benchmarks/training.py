"""Training throughput: dynamic padding + length grouping vs padding to max length; word embeddings frozen vs trained.

Same data, same steps, same seed for every variant; one run each (the numbers of one
machine, not a distribution). Throughput is features per second over the optimizer
steps after the first (which pays one-off costs), from ``train_log.parquet``.

    PYTHONPATH=. .venv/bin/python benchmarks/training.py                   # CPU defaults (a few minutes on 2 cores)
    PYTHONPATH=. .venv/bin/python benchmarks/training.py --steps 40 --batch-size 32 --max-length 256   # a GPU
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from xit.encoders import DEFAULT_MODEL, load_encoder
from xit.io import write_parquet_atomic
from xit.training import TrainConfig, train

VARIANTS = {
    "dynamic padding + length grouping": {"length_grouping": True, "pad_to_max_length": False},
    "pad to max_length, no grouping": {"length_grouping": False, "pad_to_max_length": True},
}


def measure(encoder, base: dict, variant: dict, freeze: bool) -> dict:
    """One training run; throughput and mean padded length of its steps."""
    config = TrainConfig.from_dict({**base, **variant, "freeze_word_embeddings": freeze, "save_model": False,
                                    "progress": False, "contamination": "off", "max_dev_examples": 8})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train(config, Path(tmp), encoder=encoder)
        wall = time.perf_counter() - start
    steps = result.train_log.iloc[1:]
    seconds = float((1.0 / steps["examples_per_s"] * config.batch_size).sum())  # per-step features / (features/s)
    return {"examples_per_s": float(config.batch_size * len(steps) / seconds), "seconds_per_step": seconds / len(steps),
            "wall_s": wall, "final_loss": float(result.train_log["loss"].iloc[-1])}


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run every variant and print a markdown table with the speed-up ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--tasks", nargs="+", default=["anli", "ud_pos"])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-train-examples", type=int, default=400)
    parser.add_argument("--out", default="outputs/benchmarks/training.parquet")
    args = parser.parse_args(argv)

    encoder = load_encoder(args.model)
    base = {"model": args.model, "tasks": args.tasks, "max_steps": args.steps, "batch_size": args.batch_size,
            "max_length": args.max_length, "max_train_examples": args.max_train_examples,
            "sampler": {"name": "uniform"}, "seed": 0}
    rows = []
    for freeze in (True, False):
        for name, variant in VARIANTS.items():
            row = measure(encoder, base, variant, freeze)
            rows.append({"batching": name, "freeze_word_embeddings": freeze, **row})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    fastest = table["examples_per_s"].max()
    table["vs pad-to-max (same freeze)"] = table.groupby("freeze_word_embeddings")["examples_per_s"].transform(
        lambda s: s / s.iloc[1])
    table["vs fastest"] = table["examples_per_s"] / fastest
    write_parquet_atomic(table.assign(tasks="+".join(args.tasks), steps=args.steps, batch_size=args.batch_size,
                                      max_length=args.max_length), args.out)
    print(f"\ntasks {'+'.join(args.tasks)}, {args.steps} steps, batch {args.batch_size}, max_length {args.max_length}\n")
    print(table.round(2).to_string(index=False))
    return table


if __name__ == "__main__":
    main()
