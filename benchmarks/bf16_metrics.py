"""Does bf16 autocast change the study's retrieval metrics? The untrained baseline in bf16 against its committed fp32 run.

    XIT_DATA_DIR=... PYTHONPATH=. python benchmarks/bf16_metrics.py [--grid params/study.yaml] [--out results/speed/...]

The fp32 side is the study's own committed baseline run (results/study/runs/<k0 id>/results.parquet), so only
the bf16 evaluation is computed here: the grid's evaluation, unchanged but for ``precision: bf16``. The check
(docs/decisions.md, "Speed targets against their floors") passes when every headline metric (Tatoeba accuracy,
BUCC F1 with the carried threshold, LAReQA mAP@20), per language and layer, moves by at most 0.5 points.
It needs a CPU with native bf16 (avx512_bf16 or AMX) or a GPU: elsewhere bf16 runs 28-57x slower and the
script refuses. Prints the seconds of the evaluation and the differences per target. ``--fp32-here`` also
re-evaluates fp32 on this machine: its differences to the committed rows, made on other CPUs, are the part of
the bf16 differences that any change of machine brings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from xit.encoders import DEFAULT_MODEL, cpu_supports_bf16, load_encoder
from xit.grid import GridConfig, expand_runs, resolve_grid
from xit.retrieval.suite import evaluate_encoder

HEADLINE = {"tatoeba": "accuracy", "bucc": "f1", "lareqa": "map@20"}
KEYS = ["target", "language", "direction", "layer", "metric"]
TOLERANCE = 0.5


def differences(fp32: pd.DataFrame, bf16: pd.DataFrame) -> pd.DataFrame:
    """One row per headline metric, language, direction and layer: the fp32 and bf16 values and bf16 - fp32."""
    pick = lambda rows: rows[rows["metric"] == rows["target"].map(HEADLINE)][KEYS + ["value"]]  # noqa: E731
    merged = pick(fp32).merge(pick(bf16), on=KEYS, suffixes=(" fp32", " bf16"), validate="one_to_one")
    if len(merged) != len(pick(fp32)):
        raise SystemExit(f"bf16 rows match {len(merged)} of {len(pick(fp32))} fp32 rows: the evaluations differ in more than precision")
    return merged.assign(delta=merged["value bf16"] - merged["value fp32"])


def summary(diff: pd.DataFrame, endpoint_layer: int) -> pd.DataFrame:
    """Per target: rows compared, mean and largest |delta|, the mean delta at the primary layer, and the verdict."""
    last = diff["layer"] == (diff["layer"].max() if endpoint_layer == -1 else endpoint_layer)
    out = diff.groupby("target").agg(rows=("delta", "size"), mean_abs_delta=("delta", lambda d: d.abs().mean()),
                                     max_abs_delta=("delta", lambda d: d.abs().max()))
    out["mean delta, last layer"] = diff[last].groupby("target")["delta"].mean()
    out[f"within {TOLERANCE} points"] = out["max_abs_delta"] <= TOLERANCE
    return out.reset_index()


def main(argv: list[str] | None = None) -> None:
    """Evaluate the untrained baseline in bf16 and print the differences to its committed fp32 rows."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", type=Path, default=Path("params/study.yaml"))
    ap.add_argument("--out", type=Path, help="write the bf16 rows (parquet) here")
    ap.add_argument("--fp32-here", action="store_true", help="also evaluate fp32 here and compare it with the committed fp32 rows")
    args = ap.parse_args(argv)
    if not cpu_supports_bf16():
        raise SystemExit("this CPU has no native bf16 (avx512_bf16 or amx_bf16 in /proc/cpuinfo): bf16 would run 28-57x slower here")
    grid = resolve_grid(GridConfig.from_yaml(args.grid))
    baseline = next(r for r in expand_runs(grid) if r.kind == "none")
    fp32 = pd.read_parquet(baseline.run_dir / "results.parquet")
    encoder = load_encoder(DEFAULT_MODEL, device="cpu")
    layer = grid.config.primary_endpoint["layer"]
    for precision in ("fp32", "bf16") if args.fp32_here else ("bf16",):
        start = time.perf_counter()
        rows = evaluate_encoder(encoder, {**grid.eval, "precision": precision, "progress": False, "cache": False})
        print(f"\n## {precision} here against the committed fp32 rows of baseline {baseline.run_id} "
              f"({time.perf_counter() - start:.0f} s to evaluate)\n")
        print(summary(differences(fp32, rows), layer).to_markdown(index=False, floatfmt=".3f"))
    bf16 = rows
    if args.out:
        bf16.to_parquet(args.out, index=False)
    diff = differences(fp32, bf16)
    worst = diff.loc[diff["delta"].abs().sort_values(ascending=False).index[:5]]
    print("\nlargest differences:\n\n" + worst.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
