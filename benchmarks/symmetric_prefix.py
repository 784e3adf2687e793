"""The untrained encoder's symmetric targets with each symmetric prefix (docs/retrieval.md cites it).

    PYTHONPATH=. python benchmarks/symmetric_prefix.py --tatoeba-max 200 --bucc-max 2000 --out outputs/symmetric_prefix

Evaluates Tatoeba (xtremer41) and BUCC zh-en (sample) at the last layer once with ``symmetric_prefix:
query`` (e5's model card: "query: " on both sides for bitext mining) and once with ``passage``, and
prints one table: Tatoeba accuracy (mean of both directions), BUCC F1 at the carried-halves threshold
(the headline) and at the oracle threshold.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from xit.encoders import DEFAULT_MODEL, load_encoder
from xit.io import write_parquet_atomic
from xit.retrieval.suite import EvalConfig, evaluate_encoder


def main() -> None:
    """Run both prefixes and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--tatoeba-max", type=int, default=200)
    ap.add_argument("--bucc-max", type=int, default=2000)
    ap.add_argument("--out", default="outputs/symmetric_prefix")
    args = ap.parse_args()
    enc = load_encoder(args.model)
    frames, lines = [], []
    for prefix in ("query", "passage"):
        params = {
            "targets": ["tatoeba", "bucc"], "layers": [-1], "symmetric_prefix": prefix, "tatoeba_languages": "xtremer41",
            "tatoeba_max_sentences": args.tatoeba_max, "bucc_languages": ["zh"], "bucc_split": "dev", "bucc_max_sentences": args.bucc_max,
            "cache": False, "progress": False,
        }
        start = time.perf_counter()
        rows = evaluate_encoder(enc, EvalConfig.from_dict(params), run_info={"symmetric": prefix})
        wall = time.perf_counter() - start
        frames.append(rows)
        tat = rows[(rows["target"] == "tatoeba") & (rows["language"] == "all")].set_index("direction")["value"]
        bucc = rows[rows["target"] == "bucc"].set_index("metric")["value"]
        lines.append({
            "symmetric_prefix": prefix, "prefix column": rows["prefix"].iloc[0],
            "tatoeba avg": tat.mean(), "tatoeba xx->en": tat["xx->en"], "tatoeba en->xx": tat["en->xx"],
            "bucc f1 (carried-halves)": bucc["f1"], "bucc f1_oracle": bucc["f1_oracle"], "wall_s": wall,
        })
    out = Path(args.out)
    write_parquet_atomic(pd.concat(frames, ignore_index=True), out / "results.parquet")
    table = pd.DataFrame(lines).round(2)
    (out / "summary.md").parent.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(table.to_string(index=False) + "\n", encoding="utf-8")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
