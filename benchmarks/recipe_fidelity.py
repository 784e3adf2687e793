"""The effect of TrainConfig.input_prefix and head_pooling on a small run (docs/training.md cites it).

    XIT_DATA_DIR=... OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/recipe_fidelity.py --out outputs/recipe_fidelity

Trains the converted e5-small on rte + hellaswag (classification + multiple choice) once per setting
(input_prefix none/query x head_pooling first/mean; same seed, data and steps), then scores each run's
English dev metrics and Tatoeba xx->en / en->xx accuracy at the last layer on a few languages, next to
the untrained encoder. Finished runs in --out are reused (train() returns them), so a killed
benchmark resumes. Prints one table and writes results.parquet + summary.md to --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from xit.encoders import DEFAULT_MODEL, load_encoder
from xit.io import write_parquet_atomic
from xit.retrieval.suite import EvalConfig, evaluate_encoder
from xit.training import TrainConfig, train

SETTINGS = ("none/first", "query/mean", "query/first", "none/mean")


def tatoeba(encoder: object, languages: list[str], max_sentences: int) -> pd.DataFrame:
    """Tatoeba accuracy per language and direction at the last layer (e5's query prefix on both sides)."""
    params = {"targets": ["tatoeba"], "layers": [-1], "tatoeba_languages": languages,
              "tatoeba_max_sentences": max_sentences, "cache": False, "progress": False}
    rows = evaluate_encoder(encoder, EvalConfig.from_dict(params))
    return rows[(rows["metric"] == "accuracy") & (rows["language"] != "all")][["language", "direction", "value"]]


def run_setting(setting: str, args: argparse.Namespace, base: object) -> tuple[dict[str, float], pd.DataFrame]:
    """Train one setting (or reuse its finished run) and score it: dev metrics, Tatoeba rows."""
    prefix, pooling = setting.split("/")
    config = TrainConfig.from_dict({
        "model": args.model, "tasks": ["rte", "hellaswag"], "max_steps": args.steps, "batch_size": args.batch,
        "max_length": args.max_length, "learning_rate": args.lr, "freeze_word_embeddings": True,
        "max_train_examples": args.train, "max_dev_examples": args.dev, "sampler": {"name": "uniform"},
        "eval_targets": ["tatoeba"], "seed": args.seed, "progress": False,
        "input_prefix": prefix, "head_pooling": pooling,
    })
    start = time.perf_counter()
    result = train(config, Path(args.out) / setting.replace("/", "-"), encoder=base)
    dev = result.dev_metrics[result.dev_metrics["step"] == result.steps]
    line = {f"{r.task} {r.metric}": r.value for r in dev.itertuples() if r.metric == "accuracy"}
    line.update({"train_s": result.seconds, "steps rte/hellaswag": "/".join(str(int(s)) for s in result.task_mix["steps"])})
    rows = tatoeba(str(result.encoder_dir), args.languages, args.tatoeba_max)
    line["wall_s"] = time.perf_counter() - start
    return line, rows


def main() -> None:
    """Run every setting and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), help="input_prefix/head_pooling pairs")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--dev", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--languages", nargs="+", default=["deu", "fra", "cmn", "ara"])
    ap.add_argument("--tatoeba-max", type=int, default=100)
    ap.add_argument("--out", default="outputs/recipe_fidelity")
    args = ap.parse_args()
    base = load_encoder(args.model)
    frames, lines = [], []
    untrained = tatoeba(base, args.languages, args.tatoeba_max).assign(setting="untrained")
    frames.append(untrained)
    for setting in args.settings:
        line, rows = run_setting(setting, args, base)
        frames.append(rows.assign(setting=setting))
        lines.append({"setting": setting, **line})
        print(setting, line, flush=True)
    tidy = pd.concat(frames, ignore_index=True)
    out = Path(args.out)
    write_parquet_atomic(tidy, out / "results.parquet")
    wide = tidy.pivot_table(index="setting", columns=["direction", "language"], values="value", sort=False)
    wide.columns = [f"{d} {lang}" for d, lang in wide.columns]
    wide["tatoeba mean"] = wide.mean(axis=1)
    table = pd.DataFrame(lines).set_index("setting").join(wide, how="outer").reindex(["untrained", *args.settings]).round(2)
    (out / "summary.md").write_text(table.reset_index().to_markdown(index=False) + "\n", encoding="utf-8")
    print(table.to_string())


if __name__ == "__main__":
    main()
