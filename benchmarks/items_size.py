"""Size of a run's per-item file (items.parquet) for a demo-sized evaluation (docs/retrieval.md cites it).

    PYTHONPATH=. python benchmarks/items_size.py --out outputs/items_size

Evaluates the untrained encoder on Tatoeba (8 languages x 100 sentences) and LAReQA (11 languages x 4
paragraphs) at 2 layers with per-item outcomes, writes items.parquet with xit.retrieval.items.write_items
(categorical columns, float32 values) and, for comparison, the same table with zstd compression and with
plain string columns, and prints the sizes and item counts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from xit.encoders import DEFAULT_MODEL
from xit.io import write_parquet_atomic
from xit.retrieval.items import compact_items, write_items
from xit.retrieval.suite import EvalConfig, evaluate_encoder_with_items

TATOEBA_LANGUAGES = ["deu", "fra", "cmn", "rus", "ara", "hin", "spa", "jpn"]


def main() -> None:
    """Evaluate, write the items three ways and print their sizes."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default="outputs/items_size")
    args = ap.parse_args()
    out = Path(args.out)
    config = EvalConfig(targets=["tatoeba", "lareqa"], layers=[-1, 6], tatoeba_languages=TATOEBA_LANGUAGES, tatoeba_max_sentences=100,
                        lareqa_languages="all", lareqa_max_paragraphs=4, cache=False, progress=False)
    start = time.perf_counter()
    rows, items = evaluate_encoder_with_items(args.model, config, run_info={"run_id": "demo", "k": 0, "tasks": "", "seed": 0})
    print(f"evaluated in {time.perf_counter() - start:.0f} s: {len(rows)} rows, {len(items)} items")
    print(items.groupby(["target", "metric"], observed=True).size().to_string())
    write_items(items, out / "items.parquet")
    write_parquet_atomic(rows, out / "results.parquet")
    compact_items(items).to_parquet(out / "items-zstd.parquet", index=False, compression="zstd")
    plain = items.astype({c: str for c in items.columns if str(items[c].dtype) == "category"})
    plain.to_parquet(out / "items-plain-strings.parquet", index=False)
    for name in ("items.parquet", "items-zstd.parquet", "items-plain-strings.parquet", "results.parquet"):
        print(f"{name}: {(out / name).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
