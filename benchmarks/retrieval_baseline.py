"""The untrained baseline on every offline retrieval target, written to outputs/ (docs/retrieval.md cites it).

    PYTHONPATH=. python benchmarks/retrieval_baseline.py                       # full protocol
    PYTHONPATH=. python benchmarks/retrieval_baseline.py --tatoeba-max 200 --bucc-max 2000 --lareqa-paragraphs 24

Prints the headline table (Tatoeba xtremer41 average of both directions, BUCC zh-en F1 at the carried-halves
threshold, LAReQA mAP@20) per layer, and writes results.parquet + summary.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from xit.encoders import DEFAULT_MODEL
from xit.io import write_json_atomic, write_parquet_atomic
from xit.retrieval.suite import EvalConfig, evaluate_encoder, summary_table


def markdown(table) -> str:
    """A pandas table as a Markdown table (no tabulate dependency)."""
    cols = [str(table.index.name or "")] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in table.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [f"{v:.1f}" for v in row]) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the baseline evaluation and write its tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--layers", default="all", help="'all' or comma-separated hidden_states indices, e.g. -1,6")
    ap.add_argument("--tatoeba-max", type=int, default=None, help="sentences per Tatoeba language (default: all, up to 1000)")
    ap.add_argument("--bucc-max", type=int, default=None, help="sentences per BUCC side, every gold sentence kept (default: all)")
    ap.add_argument("--lareqa-paragraphs", type=int, default=None, help="first paragraphs of XQuAD-R per language (default: all 240)")
    ap.add_argument("--out", default="outputs/baseline")
    args = ap.parse_args()
    layers = "all" if args.layers == "all" else [int(x) for x in args.layers.split(",")]
    eval_params = dict(
        targets=["tatoeba", "bucc", "lareqa"], layers=layers, tatoeba_languages="xtremer41",
        tatoeba_max_sentences=args.tatoeba_max, bucc_languages=["zh"], bucc_split="dev", bucc_max_sentences=args.bucc_max,
        lareqa_languages="all", lareqa_max_paragraphs=args.lareqa_paragraphs,
    )
    start = time.perf_counter()
    rows = evaluate_encoder(args.model, EvalConfig.from_dict(eval_params), run_info={"run_id": "baseline", "k": 0, "tasks": ""})
    wall = time.perf_counter() - start
    out = Path(args.out)
    write_parquet_atomic(rows, out / "results.parquet")
    table = summary_table(rows).pivot_table(index="layer", columns="target", values="value").round(1)
    text = f"model={args.model} eval={json.dumps(eval_params)} wall_s={wall:.0f}\n\n" + markdown(table)
    (out / "summary.md").write_text(text + "\n", encoding="utf-8")
    write_json_atomic({"eval": eval_params, "wall_s": wall, "model": args.model}, out / "run.json")
    print(text)


if __name__ == "__main__":
    main()
