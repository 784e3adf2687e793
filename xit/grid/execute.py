"""Executing one run with papermill: train (unless k = 0 or cached), evaluate, stamp rows, record status for resume."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xit.grid.kinds import get_kind
from xit.grid.runs import RunSpec, canonical
from xit.io import write_json_atomic, write_parquet_atomic
from xit.paths import export_xit_pythonpath

#: Columns the grid stamps on every result row (before the retrieval columns of docs/contracts.md).
RUN_COLUMNS = ("run_id", "k", "tasks", "seed", "kind", "budget_policy", "total_steps", "steps_per_task", "alpha")

#: Nullable dtypes of the run columns (NA where a column does not apply, e.g. alpha outside interpolation).
RUN_DTYPES = {"seed": "Int64", "total_steps": "Int64", "steps_per_task": "Float64", "alpha": "Float64"}

#: Where a derived run (interpolation) writes the weights it evaluates, inside its run folder.
DERIVED_ENCODER = "encoder"

#: Kernel start attempts per notebook (parallel starts can collide on ports).
KERNEL_START_ATTEMPTS = 3

#: What notebook 01 writes beside encoder/: copied into each run folder that uses the encoder.
TRAINING_RECORDS = ("dev_metrics.parquet", "train_log.parquet", "train_summary.json")

TRAIN_SUMMARY = "train_summary.json"



@dataclass
class RunOutcome:
    """What happened to one run: done (ran now), skipped (already done) or failed (with its error)."""

    run_id: str
    k: int
    tasks: str
    seed: int | None
    status: str
    seconds: float
    path: str
    trained: bool = False
    error: str = ""
    kind: str = ""



def _status_file(run_dir: Path) -> Path:
    return run_dir / "status.json"



def is_done(spec: RunSpec) -> bool:
    """A run is done when its status.json says so and its results table exists (both written atomically)."""
    status = _status_file(spec.run_dir)
    if not status.is_file() or not (spec.run_dir / "results.parquet").is_file():
        return False
    try:
        return json.loads(status.read_text(encoding="utf-8")).get("status") == "done"
    except (OSError, json.JSONDecodeError):
        return False



def _encoder_ready(spec: RunSpec) -> bool:
    """The encoder cache holds a finished training of this run's recipe (its fingerprint, incl. RESULTS_VERSION, matches)."""
    enc = spec.encoder_dir
    if enc is None or not (enc / "done.json").is_file() or not (enc / "encoder").is_dir():
        return False
    try:
        done = json.loads((enc / "done.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return done.get("fingerprint") == spec.train_fingerprint



@contextlib.contextmanager
def kernel_device(device: str) -> Iterator[None]:
    """Kernels launched inside see CUDA only when ``device`` is cuda; for cpu, torch there (accelerate, load_encoder) finds no GPU."""
    if device != "cpu":
        yield
        return
    # papermill hands the kernel no environment of its own: it inherits this process's at launch, so the
    # variable is set for the launch and restored after.
    old = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = old


def check_device(device: str) -> None:
    """Refuse a cuda run on a worker whose torch sees no GPU, before it trains or encodes anything."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"device='cuda' but torch sees no GPU on worker {os.uname().nodename}; "
                               "start the Dask workers on GPU machines, or set device: cpu")


def execute_notebook(notebook: str | Path, output: Path, parameters: dict[str, Any], timeout: int | None,
                     device: str = "cpu") -> None:
    """Execute one notebook with papermill on ``device``, saving the executed copy as it runs (kept on failure)."""
    import papermill as pm

    export_xit_pythonpath()
    for attempt in range(KERNEL_START_ATTEMPTS):
        try:
            with kernel_device(device):
                pm.execute_notebook(
                    str(notebook),
                    str(output),
                    parameters=canonical(parameters),
                    kernel_name="python3",
                    progress_bar=False,
                    log_output=False,
                    execution_timeout=timeout,
                    # The kernel's own log (TCP warnings, shutdown noise) would drown the progress bar.
                    extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                )
            return
        except RuntimeError as err:
            # Kernels started at the same moment by parallel workers can race for a TCP port and die
            # before running any cell; that start is retried, any other error is the run's own.
            if "Kernel died before replying" not in str(err) or attempt == KERNEL_START_ATTEMPTS - 1:
                raise
            time.sleep(1 + attempt)



def stamp_results(spec: RunSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """The run's rows with the run columns (RUN_COLUMNS) set by the grid (whatever the notebook wrote)."""
    rows = rows.copy()
    for name, value in spec.run_info.items():
        if name in RUN_DTYPES:
            rows[name] = pd.array([value] * len(rows), dtype=RUN_DTYPES[name])
        else:
            rows[name] = pd.Series([value] * len(rows), index=rows.index, dtype=object if value is None else None)
    return rows[list(RUN_COLUMNS) + [c for c in rows.columns if c not in RUN_COLUMNS]]



def stamp_run_outputs(spec: RunSpec) -> None:
    """Give the run's per-item outcomes and drift rows the same run columns as its results."""
    from xit.retrieval.items import write_items

    items, drift = spec.run_dir / "items.parquet", spec.run_dir / "drift.parquet"
    if items.is_file():
        write_items(stamp_results(spec, pd.read_parquet(items)), items)
    if drift.is_file():
        write_parquet_atomic(stamp_results(spec, pd.read_parquet(drift)), drift)


def ensure_encoder(spec: RunSpec) -> tuple[Path, bool]:
    """The trained encoder this run evaluates (or derives from): from the cache, else trained now by notebook 01."""
    enc = spec.encoder_dir
    assert enc is not None
    if _encoder_ready(spec):
        return enc, False
    if enc.exists():
        shutil.rmtree(enc)  # a dropped, stale or half-finished training: train afresh
    execute_notebook(spec.training_notebook, spec.run_dir / "01_intermediate_training.ipynb",
                     {"model": spec.model, "tasks": list(spec.tasks), "train": spec.train,
                      "seed": spec.seed, "output_dir": str(enc)}, spec.cell_timeout, spec.device)
    if not (enc / "encoder").is_dir():
        raise RuntimeError(f"training notebook finished but wrote no encoder at {enc / 'encoder'}")
    import xit

    write_json_atomic({"model": spec.model, "tasks": list(spec.tasks), "seed": spec.seed, "train": spec.train,
                       "fingerprint": spec.train_fingerprint, "results_version": xit.RESULTS_VERSION,
                       "trained_by": spec.run_id}, enc / "done.json")
    return enc, True



def _model_to_evaluate(spec: RunSpec) -> tuple[str, bool]:
    """What notebook 02 evaluates: the model itself (k = 0), the trained encoder, or weights derived from it."""
    if spec.encoder_key is None:
        return spec.model, False
    enc, trained = ensure_encoder(spec)
    for name in TRAINING_RECORDS:  # the run's own copy of what its training logged
        if (enc / name).is_file():
            shutil.copy2(enc / name, spec.run_dir / name)
    derive = get_kind(spec.kind).derive
    if derive is None:
        return str(enc / "encoder"), trained
    params = {"alpha": spec.alpha}
    return str(derive(spec.model, enc / "encoder", params, spec.run_dir / DERIVED_ENCODER)), trained



def execute_run(spec: RunSpec) -> RunOutcome:
    """Execute one run (train unless k = 0 or cached, derive if its kind does, evaluate); never raises for a failing notebook."""
    start = time.perf_counter()
    run_dir = spec.run_dir

    def outcome(status: str, trained: bool = False, error: str = "") -> RunOutcome:
        return RunOutcome(spec.run_id, spec.k, spec.tasks_label, spec.seed, status,
                          round(time.perf_counter() - start, 2), str(run_dir), trained, error, spec.kind)

    if is_done(spec):
        return outcome("skipped")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "error.txt").unlink(missing_ok=True)
    write_json_atomic({"status": "running", "params": dataclasses.asdict(spec), "host": os.uname().nodename,
                       "pid": os.getpid(), "started": time.time()}, _status_file(run_dir))
    trained = False
    try:
        check_device(spec.device)
        model, trained = _model_to_evaluate(spec)
        drift = spec.drift_probe is not None and spec.encoder_key is not None  # trained or derived weights only
        execute_notebook(spec.retrieval_notebook, run_dir / "02_retrieval.ipynb",
                         {"model": model, "eval": spec.eval, "output_dir": str(run_dir), "run_info": spec.run_info,
                          "base_model": spec.model if drift else None, "drift_probe": spec.drift_probe or {}},
                         spec.cell_timeout, spec.device)
        results_path = run_dir / "results.parquet"
        if not results_path.is_file():
            raise RuntimeError(f"retrieval notebook finished but wrote no {results_path}")
        rows = stamp_results(spec, pd.read_parquet(results_path))
        write_parquet_atomic(rows, results_path)
        stamp_run_outputs(spec)
        write_json_atomic({"status": "done", "params": dataclasses.asdict(spec), "rows": len(rows),
                           "trained": trained, "seconds": round(time.perf_counter() - start, 2),
                           "finished": time.time()}, _status_file(run_dir))
        if not spec.keep_encoders:  # derived weights are remade in seconds from the cached training
            shutil.rmtree(run_dir / DERIVED_ENCODER, ignore_errors=True)
        return outcome("done", trained)
    except Exception as err:  # a failing run is recorded and reported; the other runs go on
        message = f"{type(err).__name__}: {err}\n\n{traceback.format_exc()}"
        (run_dir / "error.txt").write_text(message, encoding="utf-8")
        write_json_atomic({"status": "failed", "params": dataclasses.asdict(spec), "error": f"{type(err).__name__}: {err}",
                           "finished": time.time()}, _status_file(run_dir))
        return outcome("failed", trained, short_error(err))



def chains(runs: list[RunSpec]) -> list[list[RunSpec]]:
    """Runs grouped by the trained encoder they share (a training and its interpolations), in first-run order.

    A chain runs in order in one worker, so two runs never train the same encoder at once, and with
    keep_encoders: false the encoder is dropped only after the last run that needs it.
    """
    groups: dict[str, list[RunSpec]] = {}
    for spec in runs:
        groups.setdefault(spec.encoder_key or f"run:{spec.run_id}", []).append(spec)
    return list(groups.values())



def finish_chain(chain: list[RunSpec], outcomes: list[RunOutcome]) -> None:
    """Drop the chain's trained weights when the grid keeps none and every run of the chain is done."""
    spec = chain[0]
    if spec.encoder_key and not spec.keep_encoders and all(o.status in ("done", "skipped") for o in outcomes):
        _drop_encoder_weights(spec)



def execute_chain(chain: list[RunSpec]) -> list[RunOutcome]:
    """Execute the runs of one chain in order (a Dask task), then drop its encoder if the grid keeps none."""
    outcomes = [execute_run(spec) for spec in chain]
    finish_chain(chain, outcomes)
    return outcomes



def short_error(err: BaseException) -> str:
    """The first meaningful line of an error (papermill's carry the notebook's exception name and value)."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(err).__name__}: {err}"
    return text.strip().splitlines()[0][:300] if text.strip() else type(err).__name__



def _drop_encoder_weights(spec: RunSpec) -> None:
    """Free disk after a done run when the grid keeps no encoders (the run folder has the training records)."""
    enc = spec.encoder_dir
    if enc is not None:
        shutil.rmtree(enc, ignore_errors=True)
