"""Two cores: one process with two torch threads, or two processes with one thread each (the study's Dask setup)?

    XIT_DATA_DIR=... PYTHONPATH=. python benchmarks/worker_split.py            # ~2 min on an idle 2-core machine

Each process loads e5-small and a fixed workload first: 1,200 short Tatoeba texts and 60 long LAReQA candidates
from the study's evaluation, encoded at all 13 layers, and 6 training steps (batch 16 x 64 tokens, AdamW, word
embeddings frozen). Only then does the timed part start, on a go signal, so loading is not timed. The workload
runs once in one process with 2 threads, then at the same time in two processes with 1 thread each (twice the
work), then once more in one process with 2 threads, to bracket drift. The table gives seconds per workload and
the two-process throughput as a ratio to the one-process baseline. Run it on an idle machine: a grid running
beside it takes cores from both arms unequally.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

PHASES = {"short_s": "encode 1,200 short texts, 13 layers", "long_s": "encode 60 long candidates, 13 layers",
          "train_s": "6 training steps (16 x 64)"}


def child(threads: int, go: Path, out: Path) -> None:
    """Load, signal ready, wait for go, time each phase, write the seconds as JSON."""
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from grid_run import study_texts

    from xit.encoders import DEFAULT_MODEL, encode_texts, load_encoder

    enc = load_encoder(DEFAULT_MODEL, device="cpu")
    texts = study_texts(None)
    short, long_ = texts["tatoeba"][0][::10][:1200], texts["lareqa candidates"][0][::12][:60]
    torch.manual_seed(0)
    ids = torch.randint(1000, 20000, (16, 64))
    params = [p for name, p in enc.model.named_parameters() if "word_embeddings" not in name]
    opt = torch.optim.AdamW(params, lr=1e-6)

    def steps(n: int) -> None:
        for _ in range(n):
            enc.model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.pow(2).mean().backward()
            opt.step()
            opt.zero_grad()

    encode_texts(enc, short[:64], layers="all", prefix="passage: ", progress=False)  # warm-up: first-call allocations
    steps(1)
    out.with_suffix(".ready").touch()
    while not go.exists():
        time.sleep(0.05)
    seconds = {}
    for key, work in (("short_s", lambda: encode_texts(enc, short, layers="all", prefix="passage: ", progress=False)),
                      ("long_s", lambda: encode_texts(enc, long_, layers="all", prefix="passage: ", progress=False)),
                      ("train_s", lambda: steps(6))):
        start = time.perf_counter()
        work()
        seconds[key] = time.perf_counter() - start
    out.write_text(json.dumps(seconds))


def run_arm(folder: Path, name: str, threads: int, processes: int) -> list[dict[str, float]]:
    """Start the processes, wait until all are loaded, release them together, return each one's seconds."""
    go = folder / f"{name}.go"
    outs = [folder / f"{name}-{i}.json" for i in range(processes)]
    procs = [subprocess.Popen([sys.executable, __file__, "--child", str(threads), str(go), str(out)]) for out in outs]
    while not all(out.with_suffix(".ready").exists() for out in outs):
        if any(p.poll() not in (None, 0) for p in procs):
            raise RuntimeError(f"a {name} process failed before its timed part (exit codes {[p.poll() for p in procs]})")
        time.sleep(0.2)
    go.touch()
    for p in procs:
        p.wait()
    return [json.loads(out.read_text()) for out in outs]


def main(argv: list[str] | None = None) -> None:
    """Print the table (Markdown)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=3, metavar=("THREADS", "GO", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(int(args.child[0]), Path(args.child[1]), Path(args.child[2]))
        return
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = run_arm(folder, "one-a", threads=2, processes=1)[0]
        pair = run_arm(folder, "two", threads=1, processes=2)
        last = run_arm(folder, "one-b", threads=2, processes=1)[0]
    rows = []
    for key, label in PHASES.items():
        one = (first[key] + last[key]) / 2
        two = max(p[key] for p in pair) / 2  # two workloads done in the slower process's time
        rows.append({"workload": label, "1 process x 2 threads: s per workload": one,
                     "(first / last run)": f"{first[key]:.2f} / {last[key]:.2f}",
                     "2 processes x 1 thread: s per workload": two, "throughput, 2 x 1 over 1 x 2": one / two})
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
