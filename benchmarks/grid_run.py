"""Where the time of one grid run goes, phase by phase, and what the faster path saves (docs/speed.md).

    PYTHONPATH=. python benchmarks/grid_run.py --size demo --quick      # ~5 min on 2 busy cores
    PYTHONPATH=. python benchmarks/grid_run.py --size both              # demo run + study evaluation
    XIT_SPEED_BASELINE=1 PYTHONPATH=. python benchmarks/grid_run.py     # only the old path

"old" = today's grid run: two notebook kernels (training, retrieval), the encoder loaded in each, the
full fp32 encoder saved and reloaded, encoding at batch 64 in fp32. "new" = one kernel that hands the
trained model to evaluation in process (no save, no reload) and encodes with encode_texts' defaults
(fp32 here: this CPU has no native bf16, see the precision table). Both paths run in this invocation, so the
ratio column holds under whatever load the machine has; the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_parts import (
    batching_table,
    floor_table,
    forward_flops,
    precision_table,
    timed,
    token_lengths,
    training_step_table,
)

from xit.config import load_yaml
from xit.encoders import DEFAULT_MODEL, encode_texts, load_encoder
from xit.retrieval import cache as cache_module
from xit.retrieval import data as rdata

BASELINE_ENV = "XIT_SPEED_BASELINE"
STUDY_EVAL = dict(targets=["tatoeba", "bucc", "lareqa"], layers="all", tatoeba_languages="xtremer41", tatoeba_max_sentences=200,
                  bucc_languages=["zh"], bucc_split="dev", bucc_max_sentences=2000, lareqa_languages="all", lareqa_max_paragraphs=24)


def markdown(rows: list[dict[str, Any]] | pd.DataFrame, digits: int = 2) -> str:
    """A Markdown table (no tabulate dependency)."""
    frame = pd.DataFrame(rows)
    fmt = lambda v: f"{v:.{digits}f}" if isinstance(v, (float, np.floating)) else str(v)
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def kernel_start_seconds() -> float:
    """A fresh interpreter importing what the notebooks import (a papermill kernel pays this plus its own start)."""
    _, seconds = timed(subprocess.run, [sys.executable, "-c", "import xit.retrieval.suite, xit.training"], check=True,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    return seconds


class EncodeMeter:
    """Wraps the encode_texts the retrieval cache calls: per-call texts, tokens, tokenizing and encoding seconds."""

    def __init__(self, **overrides: Any):
        self.calls: list[dict[str, float]] = []
        self.overrides = overrides

    def __call__(self, enc, texts, **kwargs: Any) -> dict[int, np.ndarray]:
        lengths, tok_s = timed(token_lengths, enc, list(texts), kwargs.get("prefix", ""), kwargs.get("max_length", 256))
        out, seconds = timed(encode_texts, enc, texts, **{**kwargs, **self.overrides})
        self.calls.append({"texts": len(texts), "tokens": int(lengths.sum()), "tokenize_s": tok_s, "encode_s": seconds,
                           "flops": forward_flops(lengths, enc.model.config)})
        return out


@contextlib.contextmanager
def encode_replaced(fn: Any):
    """Route the retrieval cache's encode_texts through fn for the duration (restored on exit)."""
    real, cache_module.encode_texts = cache_module.encode_texts, fn
    try:
        yield
    finally:
        cache_module.encode_texts = real


def eval_phases(enc, eval_params: dict[str, Any], label: str, flops: dict[str, float] | None = None,
                **overrides: Any) -> dict[str, float]:
    """Evaluate target by target (no embedding cache): tokenize, encode, and metrics (+ data loading) seconds; the
    encode phases' forward FLOPs go into ``flops`` (by phase name) when given."""
    from xit.retrieval.suite import EvalConfig, evaluate_encoder

    phases: dict[str, float] = {}
    meter = EncodeMeter(**overrides)
    with encode_replaced(meter):
        for target in eval_params["targets"]:
            meter.calls.clear()
            _, wall = timed(evaluate_encoder, enc, EvalConfig.from_dict({**eval_params, "targets": [target], "cache": False, "progress": False}))
            enc_s, tok_s = sum(c["encode_s"] for c in meter.calls), sum(c["tokenize_s"] for c in meter.calls)
            n_texts, n_tokens = sum(c["texts"] for c in meter.calls), sum(c["tokens"] for c in meter.calls)
            phases[f"{label} {target}: encode ({n_texts} texts, {n_tokens} tokens)"] = enc_s - tok_s
            if flops is not None:
                flops[f"{label} {target}: encode ({n_texts} texts, {n_tokens} tokens)"] = sum(c["flops"] for c in meter.calls)
            phases[f"{label} {target}: tokenize"] = tok_s
            phases[f"{label} {target}: data + metrics"] = wall - enc_s
    return phases


def feature_lengths(features: list[dict[str, Any]]) -> np.ndarray:
    """Token count of every sequence in a list of features (a multiple-choice feature holds one per choice)."""
    ids = [f["input_ids"] for f in features]
    return np.array([len(x) for i in ids for x in (i if i and isinstance(i[0], list) else [i])])


def training_phases(enc, train_params: dict[str, Any], tasks: list[str], out: Path) -> tuple[dict[str, float], Any, dict[str, float]]:
    """Task loading + featurising, optimizer steps, dev evaluation, measured around xit.training's public API; and
    the FLOPs of the steps (3x forward: backward costs twice the forward) and of dev evaluation (forward only)."""
    from xit.training import (
        MultiTaskModel,
        TrainConfig,
        evaluate_task,
        load_heads,
        load_task_data,
        train,
    )

    config = TrainConfig.from_dict({**train_params, "model": DEFAULT_MODEL, "tasks": tasks, "seed": 0, "progress": False})
    start = time.perf_counter()
    data = load_task_data(config)
    for task in data.values():
        task.train_features = task.head_type.featurize(task.spec, task.train_examples, enc.tokenizer, config.max_length)
        task.dev_features = task.head_type.featurize(task.spec, task.dev_examples, enc.tokenizer, config.max_length)
    data_s = time.perf_counter() - start
    train_len = np.concatenate([feature_lengths(t.train_features) for t in data.values()])
    dev_len = np.concatenate([feature_lengths(t.dev_features) for t in data.values()])
    result, train_wall = timed(train, config, out, encoder=enc)
    log = result.train_log
    steps_s = float((config.batch_size / log["examples_per_s"]).sum())
    trained = load_encoder(str(out / "encoder"), device="cpu")
    heads = load_heads(out / "heads.pt")
    input_keys = [k for k in enc.tokenizer.model_input_names if k in ("input_ids", "attention_mask", "token_type_ids")]
    model = MultiTaskModel(trained.model, heads, {n: t.head_type for n, t in data.items()}, input_keys)
    _, dev_s = timed(lambda: [evaluate_task(model, n, t, enc.tokenizer, config, "cpu") for n, t in data.items()])
    step_name = f"training steps ({len(log)} x batch {config.batch_size})"
    phases = {"task loading + featurising": data_s, step_name: steps_s,
              "dev evaluation": dev_s, "train() wall (all of the above + save)": train_wall}
    # A step's sequences are a sample of the training features: price them at the mean feature length.
    per_step = forward_flops(np.full(config.batch_size, train_len.mean()), enc.model.config)
    flops = {step_name: 3.0 * per_step * len(log), "dev evaluation": forward_flops(dev_len, enc.model.config)}
    return phases, trained, flops


def save_phases(trained, out: Path) -> dict[str, float]:
    """Saving the full fp32 encoder + reloading it, vs saving only the weights training changes (word embeddings frozen)."""
    from safetensors.torch import save_file

    _, save_full = timed(lambda: trained.model.save_pretrained(out / "full"))
    _, reload_s = timed(load_encoder, str(out / "full"))
    frozen = "embeddings.word_embeddings.weight"
    changed = {k: v.contiguous() for k, v in trained.model.state_dict().items() if k != frozen}
    _, save_changed = timed(save_file, changed, str(out / "changed.safetensors"))
    mb = lambda p: (p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())) / 1e6
    return {f"save full fp32 encoder ({mb(out / 'full'):.0f} MB)": save_full, "reload saved encoder": reload_s,
            f"save changed weights only ({mb(out / 'changed.safetensors'):.0f} MB)": save_changed}


def collection_seconds(rows: pd.DataFrame, out: Path, runs: int = 16) -> float:
    """Writing one run's results.parquet and reading/concatenating a grid's worth (per run)."""
    from xit.io import write_parquet_atomic

    start = time.perf_counter()
    paths = [write_parquet_atomic(rows, out / f"r{i}" / "results.parquet") for i in range(runs)]
    pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    return (time.perf_counter() - start) / runs


def demo_table(enc, quick: bool, baseline_only: bool, gflops: float) -> list[dict[str, Any]]:
    """Per-phase seconds of one demo run (squad_v1, k=1), old path vs new path, and each compute phase's floor: its
    FLOPs at the measured fp32 matmul rate ``gflops``."""
    from xit.retrieval.suite import EvalConfig, evaluate_encoder

    grid = load_yaml(Path(__file__).resolve().parent.parent / "params" / "demo.yaml")
    train_params, eval_params = dict(grid["train"]), dict(grid["eval"])
    if quick:
        train_params["max_steps"] = 10
        eval_params.update(tatoeba_max_sentences=25, lareqa_max_paragraphs=2, bucc_tatoeba_pairs=50, bucc_tatoeba_size=100)
    kernel = kernel_start_seconds()
    _, load_s = timed(load_encoder, DEFAULT_MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        train_ph, trained, flops = training_phases(enc, train_params, ["squad_v1"], out / "run")
        save_ph = save_phases(trained, out / "save")
        old_eval = eval_phases(trained, eval_params, "eval", flops, precision="fp32", batch_size=64)
        new_eval = old_eval if baseline_only else eval_phases(trained, eval_params, "eval", precision="auto")
        rows = evaluate_encoder(trained, EvalConfig.from_dict({**eval_params, "targets": ["tatoeba"], "cache": False, "progress": False}))
        collect = collection_seconds(rows, out / "collect")
    rows_out = [("kernel start + imports (per notebook)", 2 * kernel, kernel), ("model load (per notebook)", 2 * load_s, load_s)]
    rows_out += [(k, v, v) for k, v in train_ph.items() if not k.startswith("train()")]
    for k, v in save_ph.items():
        rows_out.append((k, v if "full" in k or "reload" in k else 0.0, v if "changed" in k else 0.0))
    rows_out += [(k, v, new_eval[k]) for k, v in old_eval.items()]
    rows_out.append(("collection (write + read results)", collect, collect))
    nan = float("nan")
    table = [{"phase": k, "old s": o, "new s": n, "new/old": (n / o) if o else nan,
              "floor s": flops[k] / (gflops * 1e9) if k in flops else nan} for k, o, n in rows_out]
    total_old, total_new = sum(r["old s"] for r in table), sum(r["new s"] for r in table)
    floor = sum(f / (gflops * 1e9) for f in flops.values())
    table.append({"phase": "TOTAL", "old s": total_old, "new s": total_new, "new/old": total_new / total_old, "floor s": floor})
    table.append({"phase": "(train() wall, includes its own save)", "old s": train_ph["train() wall (all of the above + save)"],
                  "new s": nan, "new/old": nan, "floor s": nan})
    return table


def study_texts(root: Path | None, full: bool = False) -> dict[str, tuple[list[str], str]]:
    """The texts the study evaluation (or, full=True, the uncapped offline suite) encodes, per target and prefix."""
    langs = rdata.resolve_tatoeba_languages("xtremer41", rdata.available_tatoeba_languages(root))
    pairs = [rdata.load_tatoeba(lang, root, "local", None if full else 200) for lang in langs]
    bucc = rdata.load_bucc("zh", "dev", root, None, None if full else 2000)
    lareqa = rdata.load_xquad_r("all", root, max_paragraphs=None if full else 24)
    return {
        "tatoeba": (list(dict.fromkeys(t for p in pairs for t in p.src + p.eng)), "passage: "),
        "bucc": (list(dict.fromkeys(bucc.src)) + list(dict.fromkeys(bucc.en)), "passage: "),
        "lareqa questions": (lareqa.questions, "query: "),
        "lareqa candidates": (lareqa.candidate_texts(True), "passage: "),
    }


def study_table(enc, quick: bool, gflops: float, sample: int) -> list[dict[str, Any]]:
    """Study evaluation (all 13 layers): tokens, FLOPs, floor time, measured (or sample-extrapolated) encode time."""
    rows = []
    for name, (texts, prefix) in study_texts(None).items():
        lengths, tok_s = timed(token_lengths, enc, texts, prefix)
        rng = np.random.default_rng(0)
        pick = sorted(rng.choice(len(texts), size=min(sample, len(texts)), replace=False)) if quick else range(len(texts))
        sub = [texts[i] for i in pick]
        _, enc_s = timed(encode_texts, enc, sub, layers="all", prefix=prefix, progress=False)
        scale = lengths.sum() / lengths[list(pick)].sum()
        flops = forward_flops(lengths, enc.model.config)
        rows.append({"texts": name, "n": len(texts), "tokens": int(lengths.sum()), "tokenize s": tok_s,
                     "encode s": enc_s * scale, "measured on": f"{len(sub)} texts" + (" (scaled by tokens)" if quick else ""), "GFLOP": flops / 1e9,
                     "floor s (fp32 matmul)": flops / (gflops * 1e9), "share of encode": 0.0})
    total = sum(r["encode s"] for r in rows)
    for r in rows:
        r["share of encode"] = r["encode s"] / total
    return rows


def suite_floor_table(enc, gflops: float) -> list[dict[str, Any]]:
    """The uncapped offline suite (all 13 layers): tokens, FLOPs and floor seconds, from tokenizing alone."""
    rows = []
    for name, (texts, prefix) in study_texts(None, full=True).items():
        flops = forward_flops(token_lengths(enc, texts, prefix), enc.model.config)
        rows.append({"texts": name, "n": len(texts), "GFLOP": flops / 1e9, "floor s (fp32 matmul)": flops / (gflops * 1e9)})
    rows.append({"texts": "TOTAL", "n": sum(r["n"] for r in rows), "GFLOP": sum(r["GFLOP"] for r in rows),
                 "floor s (fp32 matmul)": sum(r["floor s (fp32 matmul)"] for r in rows)})
    return rows


def eval_flops(enc, eval_params: dict[str, Any]) -> float:
    """Forward FLOPs of one evaluation: every text it would encode, tokenized and priced, none encoded
    (random vectors stand in for embeddings, so the metrics it computes on the way are meaningless)."""
    from xit.encoders.embed import resolve_layers
    from xit.retrieval.suite import EvalConfig, evaluate_encoder

    total, rng = 0.0, np.random.default_rng(0)

    def priced(enc_, texts, layers=(-1,), prefix="", max_length=256, **_: Any) -> dict[int, np.ndarray]:
        nonlocal total
        total += forward_flops(token_lengths(enc_, list(texts), prefix, max_length), enc_.model.config)
        return {layer: rng.standard_normal((len(texts), enc_.model.config.hidden_size)).astype(np.float32)
                for layer in resolve_layers(enc_, layers)}

    with encode_replaced(priced):
        evaluate_encoder(enc, EvalConfig.from_dict({**eval_params, "cache": False, "progress": False}))
    return total


def grid_floor_table(enc, grid_file: Path, gflops: float) -> list[dict[str, Any]]:
    """FLOPs of every run of a grid (training steps at each task's mean sequence length and choices, dev evaluation,
    retrieval evaluation), priced at ``gflops``: the floor of the whole grid, from featurizing and tokenizing alone."""
    from xit.grid import expand_runs, resolve_grid
    from xit.grid.config import GridConfig
    from xit.training import TrainConfig, load_task_data
    from xit.training.sampling import task_probabilities

    grid = resolve_grid(GridConfig.from_yaml(grid_file))
    train_params, eval_params = dict(grid.config.train), dict(grid.config.eval)
    evaluation = eval_flops(enc, eval_params)
    per_task: dict[str, dict[str, float]] = {}
    rows = []
    for run in expand_runs(grid):
        tasks = list(run.tasks)
        for task in set(tasks) - set(per_task):
            config = TrainConfig.from_dict({**train_params, "model": DEFAULT_MODEL, "tasks": [task], "seed": 0, "progress": False})
            data = load_task_data(config)[task]
            train = data.head_type.featurize(data.spec, data.train_examples, enc.tokenizer, config.max_length)
            dev = data.head_type.featurize(data.spec, data.dev_examples, enc.tokenizer, config.max_length)
            lengths = feature_lengths(train)
            # A step of batch b on a multiple-choice task runs b x choices sequences; backward costs twice the forward.
            per_task[task] = {"step": 3.0 * forward_flops(np.full(config.batch_size * len(lengths) // len(train), lengths.mean()), enc.model.config),
                              "dev": forward_flops(feature_lengths(dev), enc.model.config), "size": len(train)}
        sampler = TrainConfig.from_dict({**train_params, "model": DEFAULT_MODEL, "tasks": tasks or ["anli"]}).sampler
        probs = task_probabilities({t: int(per_task[t]["size"]) for t in tasks}, sampler) if tasks else {}
        steps = int(run.total_steps or 0) if tasks else 0
        train_f = sum(p * steps * per_task[t]["step"] for t, p in probs.items())
        dev_f = sum(per_task[t]["dev"] for t in tasks)
        rows.append({"run": run.run_id, "tasks": "+".join(tasks) or "(untrained)", "steps": steps,
                     "training GFLOP": train_f / 1e9, "dev GFLOP": dev_f / 1e9, "eval GFLOP": evaluation / 1e9,
                     "floor s": (train_f + dev_f + evaluation) / (gflops * 1e9)})
    rows.append({"run": "TOTAL", "tasks": "", "steps": sum(r["steps"] for r in rows),
                 **{k: sum(r[k] for r in rows) for k in ("training GFLOP", "dev GFLOP", "eval GFLOP", "floor s")}})
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the per-phase tables (Markdown)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["demo", "study", "both", "none"], default="demo")
    ap.add_argument("--quick", action="store_true", help="10 training steps, smaller demo eval caps, study encode extrapolated from a sample")
    ap.add_argument("--sample", type=int, default=96, help="texts per study target encoded under --quick")
    ap.add_argument("--parts", default="floor,batching,precision,train-bf16", help="extra measurements, comma-separated (or 'none'); also suite-floor, demo-floor, eval-overhead")
    args = ap.parse_args(argv)
    baseline_only = os.environ.get(BASELINE_ENV) == "1"
    sys.stdout.reconfigure(line_buffering=True)  # tables appear as they finish when redirected to a file
    print(f"load average at start: {os.getloadavg()}; threads: {__import__('torch').get_num_threads()}")
    enc = load_encoder(DEFAULT_MODEL, device="cpu")
    parts = set(args.parts.split(","))
    floor = floor_table()
    gflops = float(np.median([r["fp32 GFLOP/s"] for r in floor]))
    if "floor" in parts:
        print("\n## matmul throughput (e5-small shapes)\n\n" + markdown(floor, 1))
    if args.size in ("demo", "both"):
        print("\n## one demo run (squad_v1, k=1)" + (" --quick" if args.quick else "") + "\n\n" + markdown(demo_table(enc, args.quick, baseline_only, gflops)))
    if args.size in ("study", "both"):
        print(f"\n## study evaluation, 13 layers (floor at {gflops:.1f} GFLOP/s)\n\n" + markdown(study_table(enc, args.quick, gflops, args.sample)))
    if "suite-floor" in parts:
        print(f"\n## uncapped offline suite, 13 layers: floor at {gflops:.1f} GFLOP/s (not encoded)\n\n" + markdown(suite_floor_table(enc, gflops)))
    if "eval-overhead" in parts:
        flops, seconds = timed(eval_flops, enc, STUDY_EVAL)
        print(f"\n## study evaluation with encoding replaced by random vectors\n\n{seconds:.1f} s for tokenizing, drawing "
              f"the vectors, retrieval metrics, mining and per-item outcomes ({flops / 1e12:.1f} TFLOP of encoding skipped)")
    if "demo-floor" in parts:
        table = grid_floor_table(enc, Path(__file__).resolve().parent.parent / "params" / "demo.yaml", gflops)
        print(f"\n## params/demo.yaml, every run: expected FLOPs and floor at {gflops:.1f} GFLOP/s (not trained or encoded)\n\n" + markdown(table))
    texts = study_texts(None)
    samples = {"tatoeba (short)": (texts["tatoeba"][0][::40][:128], "passage: "), "lareqa candidates (long)": (texts["lareqa candidates"][0][::20][:32], "passage: ")}
    if "batching" in parts:
        print("\n## encode batching (fp32, last layer)\n\n" + markdown(batching_table(enc, samples, (16, 64, 128))))
    if "precision" in parts:
        small = {k: (v[0][: 32 if "short" in k else 8], v[1]) for k, v in samples.items()}
        rows, cosine = precision_table(enc, small)
        print("\n## encode precision\n\n" + markdown(rows) + "\n\ncosine bf16 vs fp32 (first sample): " + ", ".join(f"{k} {v:.5f}" for k, v in cosine.items()))
    if "train-bf16" in parts:
        print("\n## training step (BertModel fwd+bwd+AdamW, batch 16, len 64, word embeddings frozen)\n\n" + markdown(training_step_table(enc)))
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
