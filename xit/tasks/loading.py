"""Load one split of a task as canonical examples, from local files or the Hugging Face hub."""

from __future__ import annotations

import hashlib
import inspect
import math
import os
from collections.abc import Iterable
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from xit.config import choice
from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import DATA_ENV, data_dir as default_data_dir
from xit.tasks.readers import FEATURES, READERS, XQUAD_EN, normalise_space
from xit.tasks.registry import TASKS, get_task
from xit.tasks.spec import SPLITS, TaskSpec

SOURCES = ("auto", "local", "hub")
#: Seed of the `max_examples` sample (a seeded sample, in file order, not a prefix).
SAMPLE_SEED = 0


def _root(data_dir: str | Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir(required=False)


def local_paths(spec: TaskSpec, split: str, data_dir: str | Path | None = None) -> list[Path]:
    """The local files a split is read from (the carve pool for dev-only tasks)."""
    key = "pool" if spec.carve is not None else split
    return [_root(data_dir) / rel for rel in spec.local_files.get(key, ())]


def local_available(spec: TaskSpec, data_dir: str | Path | None = None) -> bool:
    """True if every local file of every split of the task exists."""
    if not spec.local_files:
        return False
    return all(p.is_file() for split in SPLITS for p in local_paths(spec, split, data_dir))


def require_local(spec: TaskSpec, data_dir: str | Path | None = None) -> None:
    """Fail (before compute) naming the task, where xit looked, and how to point elsewhere or go online."""
    root = _root(data_dir)
    online = (f"load it from the hub instead (source='hub' or 'auto', hub id {spec.hub_id}"
              f"{', config ' + spec.hub_config if spec.hub_config else ''}) on a machine with internet"
              if spec.hub_id else "it has no hub copy; obtain the files and place them under the data root")
    if not spec.local_files:
        raise DataNotFoundError(
            f"task {spec.name!r} has no offline data: xit looked for local files under {root} and this task "
            f"defines none. {online[0].upper() + online[1:]}, or drop it from the pool (the offline pools are "
            "'paper-offline' and 'all-offline')."
        )
    missing = sorted({str(p) for split in SPLITS for p in local_paths(spec, split, data_dir) if not p.is_file()})
    if missing:
        raise DataNotFoundError(
            f"task {spec.name!r}: local data not found; xit looked for {', '.join(missing)}. "
            f"Set {DATA_ENV}=/path/to/shared/data (or pass data_dir=...), or {online}."
        )


def _hub_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def require_task_data(names: Iterable[str | TaskSpec], source: str = "auto", data_dir: str | Path | None = None) -> None:
    """Fail before compute if any task's data cannot be had with this source (local files missing and
    no hub copy, or the hub disabled by HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)."""
    choice(source, SOURCES, "source")
    for name in names:
        spec = get_task(name) if isinstance(name, str) else name
        if source == "hub":
            if not spec.hub_splits:
                raise DataNotFoundError(f"task {spec.name!r} has no hub copy; use source='local' with its files ({spec.offline_rule})")
            continue
        if source == "auto" and not local_available(spec, data_dir) and spec.hub_splits and not _hub_offline():
            continue  # the hub will be tried
        require_local(spec, data_dir)


def carve_groups(groups: list[str], salt: str, heldout_fraction: float) -> set[str]:
    """The held-out groups: walk distinct groups in sha1(salt + group) order, keeping each that still fits
    within ceil(fraction * examples), so the held-out share is close to the fraction even for skewed groups."""
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    budget = math.ceil(heldout_fraction * sum(sizes.values()))
    held: set[str] = set()
    for g in sorted(sizes, key=lambda g: hashlib.sha1(f"{salt}\x00{g}".encode()).hexdigest()):
        if sizes[g] <= budget:
            held.add(g)
            budget -= sizes[g]
    return held


def _read_local(spec: TaskSpec, split: str, data_dir: str | Path | None) -> list[dict]:
    require_local(spec, data_dir)
    read = READERS[spec.reader].local
    kwargs = {"data_root": _root(data_dir)} if "data_root" in inspect.signature(read).parameters else {}
    rows = read(local_paths(spec, split, data_dir), spec, "val" if spec.carve else split, **kwargs)
    if spec.carve is not None:
        heldout = (set(spec.carve.heldout_groups) if spec.carve.heldout_groups
                   else carve_groups([r["_group"] for r in rows], spec.name, spec.carve.heldout_fraction))
        rows = [r for r in rows if (r["_group"] in heldout) == (split == "dev")]
    return rows


def _xquad_exclusions_online(data_dir: str | Path | None) -> tuple[set[str], set[str]]:
    """XQuAD ids/contexts for hub SQuAD: the local file if present, else google/xquad from the hub."""
    from xit.tasks.readers import xquad_exclusions

    root = _root(data_dir)
    if (root / XQUAD_EN).is_file():
        return xquad_exclusions(root)
    xq = datasets.load_dataset("google/xquad", "xquad.en", split="validation")
    return set(xq["id"]), {normalise_space(c) for c in xq["context"]}


def _read_hub(spec: TaskSpec, split: str, data_dir: str | Path | None) -> list[dict]:
    if split not in spec.hub_splits:
        raise DataNotFoundError(f"task {spec.name!r} has no hub copy; it needs local files ({spec.offline_rule})")
    mapper = READERS[spec.reader].hub
    sources = spec.hub_splits[split]
    rows: list[dict] = []
    for src in sources:
        ds = datasets.load_dataset(src.hub_id, src.config, split=src.split)
        part = mapper(ds, spec, _xquad_exclusions_online(data_dir)) if spec.reader == "squad_json" else mapper(ds, spec)
        if len(sources) > 1:  # ids stay unique when several hub splits make one split (ANLI+)
            for r in part:
                r["id"] = f"{src.hub_id}:{src.split}:{r['id']}"
        rows.extend(part)
    return rows


def load_task_split(spec: TaskSpec | str, split: str, max_examples: int | None = None, source: str = "auto",
                    data_dir: str | Path | None = None) -> datasets.Dataset:
    """Canonical examples of one split ("train" or "dev"); max_examples keeps a seeded sample in file order."""
    spec = get_task(spec) if isinstance(spec, str) else spec
    choice(split, SPLITS, "split")
    choice(source, SOURCES, "source")
    if max_examples is not None and (not isinstance(max_examples, int) or max_examples < 1):
        raise XitConfigError(f"max_examples={max_examples!r} must be a positive integer or None (all examples)")
    if source == "local" or (source == "auto" and local_available(spec, data_dir)):
        rows = _read_local(spec, split, data_dir)
    elif source == "hub":
        rows = _read_hub(spec, split, data_dir)
    else:  # auto without local files: try the hub, and say both places if that fails too
        try:
            rows = _read_hub(spec, split, data_dir)
        except Exception as err:  # noqa: BLE001 - any hub failure becomes one clear data error
            try:
                require_local(spec, data_dir)
            except DataNotFoundError as local_err:
                raise DataNotFoundError(f"{local_err} The hub load failed too: {type(err).__name__}: {err}") from err
            raise
    for r in rows:
        r.pop("_group", None)
    if max_examples is not None and max_examples < len(rows):
        keep = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(rows), size=max_examples, replace=False))
        rows = [rows[i] for i in keep]
    return datasets.Dataset.from_list(rows, features=FEATURES[spec.head])


def task_table(data_dir: str | Path | None = None, counts: bool = True) -> pd.DataFrame:
    """One row per registered task: head, offline availability and counts, hub id, license (non-commercial marked)."""
    rows = []
    for spec in TASKS.values():
        offline = local_available(spec, data_dir)
        n = {s: (len(_read_local(spec, s, data_dir)) if offline and counts else None) for s in SPLITS}
        rows.append({
            "name": spec.name, "head": spec.head, "offline": offline,
            "train": n["train"], "dev": n["dev"], "main_metric": spec.main_metric,
            "hub_id": spec.hub_id or "", "hub_config": spec.hub_config or "",
            "license": spec.license + (" [non-commercial]" if spec.non_commercial else ""),
            "non_commercial": spec.non_commercial,
        })
    df = pd.DataFrame(rows)
    df[["train", "dev"]] = df[["train", "dev"]].astype("Int64")
    return df
