"""The study's two kernels on a GPU against the CPU cores beside it, measured in one invocation, and the study's price.

    XIT_DATA_DIR=... python benchmarks/gpu_speed.py prepare .gpu        # here: e5-small's config + tokenizer, the study's texts
    python benchmarks/gpu_speed.py measure .gpu --out gpu_speed.json   # on the machine to measure (a GPU if torch sees one)
    XIT_DATA_DIR=... python benchmarks/gpu_speed.py project results/speed/gpu_speed_h200.json   # here: the study at those rates

Weights are drawn at random (seed 0) from e5-small's own config. A kernel's speed does not depend on the weights' values,
and the 470 MB model cannot travel to a lent GPU machine, which takes 64 MiB per call. The tokenizer and the evaluation
texts are the study's own, so token counts and lengths are real, and encoding goes through xit.encoders.encode_texts.

`measure` prints four tables, each with a ratio column against the CPU fp32 row measured in the same invocation:
1. matmul rates on e5-small's largest shape (fp32, tf32, bf16);
2. one training step (forward, backward, AdamW; word embeddings frozen, as the study trains) at the study's shapes:
   16 x 64 for a classification or span batch, and 32, 64 and 80 rows of 64 tokens for batches of 2-, 4- and 5-choice items;
3. the study's whole evaluation encode (Tatoeba xtremer41, BUCC zh, LAReQA; all 13 layers). The CPU encodes every
   16th text and is scaled up by tokens;
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

#: Training batch shapes (rows, tokens): the study's batch of 16 at max_length 64, times 1, 2, 4 or 5 choices.
STEP_SHAPES = ((16, 64), (32, 64), (64, 64), (80, 64))
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "xit_encoder.json")


def prepare(assets: Path) -> None:
    """Write the model's config and tokenizer and the study's evaluation texts (gzip JSON) into ``assets``."""
    from grid_run import study_texts

    from xit.encoders import DEFAULT_MODEL
    from xit.encoders.loading import resolve_model_path

    model_dir = Path(resolve_model_path(DEFAULT_MODEL)[0])
    assets.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copy(model_dir / name, assets / name)
    texts = {name: {"texts": t, "prefix": p} for name, (t, p) in study_texts(None).items()}
    with gzip.open(assets / "texts.json.gz", "wt", encoding="utf-8") as fh:
        json.dump(texts, fh, ensure_ascii=False)
    print(f"wrote {assets}: {', '.join(MODEL_FILES)}, texts.json.gz ({sum(len(v['texts']) for v in texts.values())} texts)")


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


def encode_seconds(enc, texts: dict[str, Any], precision: str, batch_size: int, every: int) -> tuple[float, int, int]:
    """Seconds to encode every ``every``-th text of each target (all layers), with the tokens encoded and in the full set."""
    from xit.encoders import encode_texts

    tok = enc.tokenizer
    seconds, sampled, full = 0.0, 0, 0
    for target in texts.values():
        subset = target["texts"][::every]
        lengths = [len(i) for i in tok([target["prefix"] + t for t in target["texts"]], truncation=True, max_length=256)["input_ids"]]
        full += int(sum(lengths))
        sampled += int(sum(lengths[::every]))
        with precision_mode("tf32" if precision == "tf32" else "fp32", str(enc.device)):
            synchronize(str(enc.device))
            start = time.perf_counter()
            encode_texts(enc, subset, layers="all", prefix=target["prefix"], progress=False, batch_size=batch_size,
                         precision="bf16" if precision == "bf16" else "fp32")
            synchronize(str(enc.device))
        seconds += time.perf_counter() - start
    return seconds, sampled, full


def measure(assets: Path, out: Path | None, cpu_every: int, steps: int) -> dict[str, Any]:
    """Run the tables on the CPU and, when torch sees one, the first GPU; print them and return them as a record."""
    import torch

    with gzip.open(assets / "texts.json.gz", "rt", encoding="utf-8") as fh:
        texts = json.load(fh)
    from xit.encoders import cpu_supports_bf16

    gpu = torch.cuda.is_available()
    devices = ["cpu"] + (["cuda"] if gpu else [])
    env = {"torch": torch.__version__, "python": platform.python_version(), "cpu threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "gpu": torch.cuda.get_device_name(0) if gpu else "none"}
    record: dict[str, Any] = {"env": env, "matmul": [], "step": [], "encode": []}
    for device in devices:
        # bf16 on a CPU without native bf16 runs 28-57x slower than fp32 (docs/speed.md): not worth the minutes.
        precisions = ("fp32", "tf32", "bf16") if device == "cuda" else ("fp32", "bf16") if cpu_supports_bf16() else ("fp32",)
        enc = random_encoder(assets, device)
        for precision in precisions:
            record["matmul"].append({"device": device, "precision": precision, "GFLOP/s": matmul_rate(device, precision)})
            for rows, length in STEP_SHAPES:
                n = steps if device == "cuda" else max(2, steps // 10)
                record["step"].append({"device": device, "precision": precision, "rows": rows, "tokens": length, "loss": "task",
                                       "seconds": step_seconds(enc, precision, rows, length, n)})
            record["step"].append({"device": device, "precision": precision, "rows": 16, "tokens": 64, "loss": "mlm",
                                   "seconds": step_seconds(enc, precision, 16, 64, n, mlm=True)})
            for batch_size in ((64, 512) if device == "cuda" else (64,)):
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
    print("\n## study evaluation encode, all 13 layers\n\n" + table.to_markdown(index=False, floatfmt=".2f"))


def run_seconds(spec: Any, steps: dict[tuple[int, str], float], evaluation: float) -> tuple[float, float]:
    """(training, evaluation) seconds of one grid run at these step and evaluation times (as study_power.run_cost)."""
    from xit.tasks import get_task

    if spec.kind == "none" or not spec.trains_own_recipe:
        return 0.0, evaluation
    if spec.kind == "mlm":
        return spec.total_steps * steps[(16, "mlm")], evaluation
    per_task = spec.total_steps / spec.k
    rows = {t: 16 * (get_task(t).num_choices or 1 if get_task(t).head == "multiple_choice" else 1) for t in spec.tasks}
    return sum(per_task * steps[(rows[t], "task")] for t in spec.tasks), evaluation


def project(record: dict[str, Any], grid_file: Path) -> None:
    """Print every run of ``grid_file``, and the runs not yet finished, priced at each measured device and precision."""
    import pandas as pd

    from xit.grid import GridConfig, expand_design, resolve_grid
    from xit.grid.execute import is_done

    runs, _ = expand_design(resolve_grid(GridConfig.from_yaml(grid_file)))
    left = [r for r in runs if not is_done(r)]
    table = []
    for device, precision in dict.fromkeys((r["device"], r["precision"]) for r in record["step"]):
        steps = {(r["rows"], r["loss"]): r["seconds"] for r in record["step"] if (r["device"], r["precision"]) == (device, precision)}
        evaluation = min(r["seconds (full set)"] for r in record["encode"] if (r["device"], r["precision"]) == (device, precision))
        priced = [run_seconds(r, steps, evaluation) for r in runs]
        table.append({"device": device, "precision": precision, "eval s per run": evaluation,
                      "training h (all runs)": sum(t for t, _ in priced) / 3600, "eval h (all runs)": sum(e for _, e in priced) / 3600,
                      f"h, all {len(runs)} runs": sum(t + e for t, e in priced) / 3600,
                      f"h, {len(left)} runs left": sum(sum(run_seconds(r, steps, evaluation)) for r in left) / 3600})
    print(f"## {grid_file}: training steps and evaluation encodes at the rates of {record['env']['gpu']} "
          f"(cpu rows: {record['env']['cpu threads']} threads of that machine)\n")
    print(pd.DataFrame(table).to_markdown(index=False, floatfmt=".2f"))
    print("\nCompute only. Per-run work on the CPU side (notebook kernels, model loads, task loading, tokenizing, "
          "retrieval metrics and mining) comes on top; docs/speed.md measures it.")


def main(argv: list[str] | None = None) -> None:
    """prepare | measure | project."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare").add_argument("assets", type=Path)
    m = sub.add_parser("measure")
    m.add_argument("assets", type=Path)
    m.add_argument("--out", type=Path)
    m.add_argument("--cpu-every", type=int, default=16, help="the CPU encodes every n-th text (scaled up by tokens)")
    m.add_argument("--steps", type=int, default=20, help="timed training steps per shape on the GPU (a tenth on the CPU)")
    p = sub.add_parser("project")
    p.add_argument("record", type=Path)
    p.add_argument("--grid", type=Path, default=Path("params/study.yaml"))
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    if args.command == "prepare":
        prepare(args.assets)
    elif args.command == "measure":
        measure(args.assets, args.out, args.cpu_every, args.steps)
    else:
        project(json.loads(args.record.read_text(encoding="utf-8")), args.grid)


if __name__ == "__main__":
    main()
