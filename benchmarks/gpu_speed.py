"""The study's two kernels on a GPU against the CPU cores beside it, measured in one invocation, and the study's price.

    XIT_DATA_DIR=... python benchmarks/gpu_speed.py prepare .gpu [--grid params/study.yaml]   # here: model files, the grid's texts and shapes
    python benchmarks/gpu_speed.py measure .gpu --out gpu_speed.json   # on the machine to measure (a GPU if torch sees one)
    XIT_DATA_DIR=... python benchmarks/gpu_speed.py project results/speed/gpu_speed_h200.json [--grid ...]  # here: the grid at those rates

Weights are drawn at random (seed 0) from e5-small's own config. A kernel's speed does not depend on the weights' values,
and the 470 MB model cannot travel to a lent GPU machine, which takes 64 MiB per call. The tokenizer and the evaluation
texts are the grid's own (every encode_texts call of its evaluation, captured with random vectors standing in for
embeddings), so token counts and lengths are real, and encoding goes through xit.encoders.encode_texts.

`measure` prints four tables, each with a ratio column against the CPU fp32 row measured in the same invocation:
1. matmul rates on e5-small's largest shape (fp32, tf32, bf16);
2. one training step (forward, backward, AdamW; word embeddings frozen, as the study trains) at the grid's shapes:
   batch_size x max_length for a classification or span batch, and 2, 4 and 5 times the rows for batches of
   multiple-choice items; an MLM step at batch_size x max_length;
3. the grid's whole evaluation encode (for the study: Tatoeba xtremer41, BUCC zh, LAReQA; all 13 layers). The CPU
   encodes every 16th text and is scaled up by tokens;
4. the environment (torch, device names, threads).
`project` prices every run of params/study.yaml, and the runs not yet committed, at the measured rates.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Sequences per example: one, or a multiple-choice task's choices (PIQA 2, HellaSwag 4, CommonsenseQA 5).
CHOICES = (1, 2, 4, 5)
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "xit_encoder.json")


def train_shape(train: dict[str, Any]) -> tuple[int, int]:
    """A grid recipe's (batch_size, max_length), TrainConfig's defaults where the recipe leaves them out."""
    import dataclasses

    from xit.training import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return int(train.get("batch_size", defaults["batch_size"])), int(train.get("max_length", defaults["max_length"]))


def grid_texts(grid_file: Path) -> list[dict[str, Any]]:
    """Every encode_texts call of the grid's evaluation (texts, prefix, layers), captured without encoding."""
    from grid_run import encode_replaced

    from xit.encoders import DEFAULT_MODEL, load_encoder, resolve_layers
    from xit.grid import GridConfig, resolve_grid
    from xit.retrieval.suite import EvalConfig, evaluate_encoder

    enc, calls, rng = load_encoder(DEFAULT_MODEL, device="cpu"), [], np.random.default_rng(0)

    def capture(enc_, texts, layers=(-1,), prefix="", **_: Any) -> dict[int, np.ndarray]:
        wanted = resolve_layers(enc_, layers)
        calls.append({"texts": list(texts), "prefix": prefix, "layers": wanted})
        return {layer: rng.standard_normal((len(texts), enc_.model.config.hidden_size)).astype(np.float32) for layer in wanted}

    grid = resolve_grid(GridConfig.from_yaml(grid_file))
    with encode_replaced(capture):
        evaluate_encoder(enc, EvalConfig.from_dict({**grid.eval, "cache": False, "progress": False}))
    return calls


def prepare(assets: Path, grid_file: Path) -> None:
    """Write the model's config and tokenizer, the grid's evaluation texts (gzip JSON) and its step shapes into ``assets``."""
    from xit.encoders import DEFAULT_MODEL
    from xit.encoders.loading import resolve_model_path
    from xit.grid import GridConfig, resolve_grid

    model_dir = Path(resolve_model_path(DEFAULT_MODEL)[0])
    assets.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copy(model_dir / name, assets / name)
    calls = grid_texts(grid_file)
    with gzip.open(assets / "texts.json.gz", "wt", encoding="utf-8") as fh:
        json.dump(calls, fh, ensure_ascii=False)
    batch, length = train_shape(resolve_grid(GridConfig.from_yaml(grid_file)).train)
    shapes = {"grid": str(grid_file), "batch_size": batch, "max_length": length}
    (assets / "shapes.json").write_text(json.dumps(shapes) + "\n", encoding="utf-8")
    print(f"wrote {assets}: {', '.join(MODEL_FILES)}, shapes.json {shapes}, texts.json.gz "
          f"({len(calls)} encode calls, {sum(len(c['texts']) for c in calls)} texts)")


def random_encoder(assets: Path, device: str):
    """An xit Encoder with e5-small's architecture and tokenizer and seeded random weights, on ``device``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from xit.encoders import Encoder

    config = BertConfig.from_pretrained(assets)
    torch.manual_seed(0)
    model = BertModel(config, add_pooling_layer=False).to(device).eval()
    meta = json.loads((assets / "xit_encoder.json").read_text(encoding="utf-8"))
    return Encoder(model=model, tokenizer=AutoTokenizer.from_pretrained(assets), name="e5-small (random weights)",
                   path=str(assets), num_layers=config.num_hidden_layers, query_prefix=meta["query_prefix"],
                   passage_prefix=meta["passage_prefix"], meta=meta)


def synchronize(device: str) -> None:
    """Wait for queued device work, so host clocks time it."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def precision_mode(precision: str, device: str):
    """The context for fp32 / tf32 / bf16: tf32 lets cuBLAS run float32 matmuls on tensor cores, bf16 is autocast."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def mode():
        old = torch.get_float32_matmul_precision()
        if device.startswith("cuda"):
            torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
        try:
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16"):
                yield
        finally:
            torch.set_float32_matmul_precision(old)

    return mode()


def matmul_rate(device: str, precision: str, m: int = 8192, k: int = 384, n: int = 1536, reps: int = 20) -> float:
    """GFLOP/s of an (m, k) x (k, n) product, e5-small's FFN shape at m tokens."""
    import torch

    gen = torch.Generator().manual_seed(0)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(m, k, generator=gen).to(device, dtype)
    b = torch.randn(k, n, generator=gen).to(device, dtype)
    with precision_mode("tf32" if precision == "tf32" else "fp32", device):
        for _ in range(3):
            a @ b
        synchronize(device)
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        synchronize(device)
    return 2.0 * m * k * n * reps / (time.perf_counter() - start) / 1e9


def step_seconds(enc, precision: str, rows: int, length: int, steps: int, mlm: bool = False) -> float:
    """Median seconds of a training step (forward, backward, AdamW) of a copy of ``enc.model``; ``mlm``: the loss is
    masked-token cross entropy over the whole vocabulary through the frozen tied word embeddings, as xit's MLM control."""
    import copy

    import torch

    device = str(enc.device)
    torch.manual_seed(0)
    model = copy.deepcopy(enc.model).train()
    model.get_input_embeddings().weight.requires_grad_(False)
    head = torch.nn.Linear(model.config.hidden_size, 3).to(device)
    params = [p for p in list(model.parameters()) + list(head.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, model.config.vocab_size, (rows, length), generator=gen).to(device)
    labels = torch.randint(0, 3, (rows,), generator=gen).to(device)
    times = []
    for step in range(steps + 2):  # two warm-up steps pay allocation and kernel selection
        synchronize(device)
        start = time.perf_counter()
        with precision_mode(precision, device):
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            if mlm:
                logits = hidden @ model.get_input_embeddings().weight.T
                loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), ids.flatten())
            else:
                loss = torch.nn.functional.cross_entropy(head(hidden[:, 0]).float(), labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        synchronize(device)
        if step >= 2:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def encode_seconds(enc, calls: list[dict[str, Any]], precision: str, batch_size: int, every: int) -> tuple[float, int, int]:
    """Seconds to encode every ``every``-th text of each captured call, with the tokens encoded and in the full set."""
    from xit.encoders import encode_texts

    tok = enc.tokenizer
    seconds, sampled, full = 0.0, 0, 0
    for target in calls:
        subset = target["texts"][::every]
        lengths = [len(i) for i in tok([target["prefix"] + t for t in target["texts"]], truncation=True, max_length=256)["input_ids"]]
        full += int(sum(lengths))
        sampled += int(sum(lengths[::every]))
        with precision_mode("tf32" if precision == "tf32" else "fp32", str(enc.device)):
            synchronize(str(enc.device))
            start = time.perf_counter()
            encode_texts(enc, subset, layers=target["layers"], prefix=target["prefix"], progress=False, batch_size=batch_size,
                         precision="bf16" if precision == "bf16" else "fp32")
            synchronize(str(enc.device))
        seconds += time.perf_counter() - start
    return seconds, sampled, full


def measure(assets: Path, out: Path | None, cpu_every: int, steps: int, cpu_steps: int, batches: tuple[int, ...]) -> dict[str, Any]:
    """Run the tables on the CPU and, when torch sees one, the first GPU; print them and return them as a record."""
    import torch

    from xit.encoders import cpu_supports_bf16

    with gzip.open(assets / "texts.json.gz", "rt", encoding="utf-8") as fh:
        texts = json.load(fh)
    shapes = json.loads((assets / "shapes.json").read_text(encoding="utf-8"))
    batch, length = shapes["batch_size"], shapes["max_length"]

    gpu = torch.cuda.is_available()
    devices = ["cpu"] + (["cuda"] if gpu else [])
    env = {"torch": torch.__version__, "python": platform.python_version(), "cpu threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "gpu": torch.cuda.get_device_name(0) if gpu else "none"}
    record: dict[str, Any] = {"env": env, "shapes": shapes, "matmul": [], "step": [], "encode": []}
    for device in devices:
        # bf16 on a CPU without native bf16 runs 28-57x slower than fp32 (docs/speed.md): not worth the minutes.
        precisions = ("fp32", "tf32", "bf16") if device == "cuda" else ("fp32", "bf16") if cpu_supports_bf16() else ("fp32",)
        enc = random_encoder(assets, device)
        for precision in precisions:
            record["matmul"].append({"device": device, "precision": precision, "GFLOP/s": matmul_rate(device, precision)})
            n = steps if device == "cuda" else cpu_steps
            for choices in CHOICES:
                record["step"].append({"device": device, "precision": precision, "rows": batch * choices, "tokens": length,
                                       "loss": "task", "seconds": step_seconds(enc, precision, batch * choices, length, n)})
            record["step"].append({"device": device, "precision": precision, "rows": batch, "tokens": length, "loss": "mlm",
                                   "seconds": step_seconds(enc, precision, batch, length, n, mlm=True)})
            for batch_size in (batches if device == "cuda" else (64,)):
                every = 1 if device == "cuda" else cpu_every
                seconds, sampled, full = encode_seconds(enc, texts, precision, batch_size, every)
                record["encode"].append({"device": device, "precision": precision, "batch": batch_size, "texts encoded": f"every {every}",
                                         "tokens": full, "seconds (full set)": seconds * full / sampled})
            print(f"{device} {precision} done", flush=True)
    if out:
        out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print_tables(record)
    return record


def with_ratio(rows: list[dict[str, Any]], key: str, match: tuple[str, ...], faster_is_smaller: bool) -> list[dict[str, Any]]:
    """Each row with 'x CPU fp32': its speed over the CPU fp32 row of the same shape (from the same invocation)."""
    out = []
    for row in rows:
        base = next(r for r in rows if r["device"] == "cpu" and r["precision"] == "fp32" and all(r[m] == row[m] for m in match))
        ratio = base[key] / row[key] if faster_is_smaller else row[key] / base[key]
        out.append({**row, "x CPU fp32": ratio})
    return out


def print_tables(record: dict[str, Any]) -> None:
    """The record as Markdown tables."""
    import pandas as pd

    print("\n## environment\n\n" + "\n".join(f"- {k}: {v}" for k, v in record["env"].items()))
    print("\n## matmul, 8192x384 @ 384x1536\n\n" + pd.DataFrame(with_ratio(record["matmul"], "GFLOP/s", (), False)).to_markdown(index=False, floatfmt=".1f"))
    steps = pd.DataFrame(with_ratio(record["step"], "seconds", ("rows", "tokens", "loss"), True))
    steps["ms"] = steps.pop("seconds") * 1e3
    print("\n## training step (fwd + bwd + AdamW, word embeddings frozen)\n\n" + steps.to_markdown(index=False, floatfmt=".2f"))
    encode = [{**r, "batch": r["batch"]} for r in record["encode"]]
    base_rows = [r for r in encode if r["device"] == "cpu"]
    table = pd.DataFrame([{**r, "x CPU fp32": base_rows[0]["seconds (full set)"] / r["seconds (full set)"]} for r in encode])
    grid = record.get("shapes", {}).get("grid", "the grid")
    print(f"\n## {grid}: its evaluation's encode, every text\n\n" + table.to_markdown(index=False, floatfmt=".2f"))


def run_seconds(spec: Any, steps: dict[tuple[int, str], float], evaluation: float, batch: int) -> tuple[float, float]:
    """(training, evaluation) seconds of one grid run at these step and evaluation times (as study_power.run_cost);
    the steps split evenly over the run's tasks, as the study's balanced sampler does."""
    from xit.tasks import get_task

    if spec.kind == "none" or not spec.trains_own_recipe:
        return 0.0, evaluation
    if spec.kind == "mlm":
        return spec.total_steps * steps[(batch, "mlm")], evaluation
    per_task = spec.total_steps / spec.k
    rows = {t: batch * (get_task(t).num_choices or 1 if get_task(t).head == "multiple_choice" else 1) for t in spec.tasks}
    return sum(per_task * steps[(rows[t], "task")] for t in spec.tasks), evaluation


def project(record: dict[str, Any], grid_file: Path) -> None:
    """Print every run of ``grid_file``, and the runs not yet finished, priced at each measured device and precision."""
    import pandas as pd

    from xit.grid import GridConfig, expand_design, resolve_grid
    from xit.grid.execute import is_done

    grid = resolve_grid(GridConfig.from_yaml(grid_file))
    # The record's own shapes: its smallest task batch is one sequence per example, at the tokens it was timed at.
    batch = min(r["rows"] for r in record["step"] if r["loss"] == "task")
    length = record["step"][0]["tokens"]
    wanted = train_shape(grid.train)
    if (batch, length) != wanted:
        raise SystemExit(f"{grid_file} trains batches of {wanted[0]} x {wanted[1]} tokens, but the record timed {batch} x {length}; "
                         f"measure with assets prepared by `prepare --grid {grid_file}`")
    runs, _ = expand_design(grid)
    left = [r for r in runs if not is_done(r)]
    table = []
    for device, precision in dict.fromkeys((r["device"], r["precision"]) for r in record["step"]):
        steps = {(r["rows"], r["loss"]): r["seconds"] for r in record["step"] if (r["device"], r["precision"]) == (device, precision)}
        evaluation = min(r["seconds (full set)"] for r in record["encode"] if (r["device"], r["precision"]) == (device, precision))
        priced = [run_seconds(r, steps, evaluation, batch) for r in runs]
        # Another sampler than balanced shifts steps between shapes: the bounds put every task step at one extreme.
        task_steps = sum(r.total_steps for r in runs if r.kind not in ("none", "mlm") and r.trains_own_recipe)
        task_shapes = [s for (_, loss), s in steps.items() if loss == "task"]
        table.append({"device": device, "precision": precision, "eval s per run": evaluation,
                      "training h (all runs)": sum(t for t, _ in priced) / 3600,
                      "task steps h, fastest-slowest shape": f"{task_steps * min(task_shapes) / 3600:.2f}-{task_steps * max(task_shapes) / 3600:.2f}",
                      "eval h (all runs)": sum(e for _, e in priced) / 3600,
                      f"h, all {len(runs)} runs": sum(t + e for t, e in priced) / 3600,
                      f"h, {len(left)} runs left": sum(sum(run_seconds(r, steps, evaluation, batch)) for r in left) / 3600})
    print(f"## {grid_file}: training steps and evaluation encodes at the rates of {record['env']['gpu']} "
          f"(cpu rows: {record['env']['cpu threads']} threads of that machine)\n")
    print(pd.DataFrame(table).to_markdown(index=False, floatfmt=".2f"))
    print("\nCompute only. Per-run work on the CPU side (notebook kernels, model loads, task loading, tokenizing, "
          "retrieval metrics and mining) comes on top; docs/speed.md measures it.")


def main(argv: list[str] | None = None) -> None:
    """prepare | measure | project."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("assets", type=Path)
    prep.add_argument("--grid", type=Path, default=Path("params/study.yaml"))
    m = sub.add_parser("measure")
    m.add_argument("assets", type=Path)
    m.add_argument("--out", type=Path)
    m.add_argument("--cpu-every", type=int, default=16, help="the CPU encodes every n-th text (scaled up by tokens)")
    m.add_argument("--steps", type=int, default=20, help="timed training steps per shape on the GPU")
    m.add_argument("--cpu-steps", type=int, default=2, help="timed training steps per shape on the CPU")
    m.add_argument("--batches", default="64,512", help="encode batch sizes on the GPU (the CPU uses 64, xit's default)")
    p = sub.add_parser("project")
    p.add_argument("record", type=Path)
    p.add_argument("--grid", type=Path, default=Path("params/study.yaml"))
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    if args.command == "prepare":
        prepare(args.assets, args.grid)
    elif args.command == "measure":
        measure(args.assets, args.out, args.cpu_every, args.steps, args.cpu_steps, tuple(int(b) for b in args.batches.split(",")))
    else:
        project(json.loads(args.record.read_text(encoding="utf-8")), args.grid)


if __name__ == "__main__":
    main()
