"""One grid, run serially and on two local Dask workers in the same invocation: wall time and agreement.

    XIT_DATA_DIR=... PYTHONPATH=. python benchmarks/grid_backends.py                      # smoke-design, ~17 min on 2 cores
    XIT_DATA_DIR=... PYTHONPATH=. python benchmarks/grid_backends.py --grid params/smoke.yaml

Each backend runs the grid into its own empty folder. The Dask workers split the machine's cores between
them (xit.grid.backends.worker_env). The table prints the wall time of each backend with its ratio to the
serial one, and the largest absolute difference between the two results tables over the same rows.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from xit.grid import GridConfig, run_grid

KEY = ["run_id", "layer", "target", "language", "direction", "metric"]


def timed_grid(config: GridConfig, backend: str, out: Path) -> tuple[float, pd.DataFrame]:
    """Wall seconds of one whole grid on one backend, and its results table."""
    config = dataclasses.replace(config, output_dir=str(out), backend=backend, workers=2)
    start = time.perf_counter()
    summary = run_grid(config, progress=False)
    seconds = time.perf_counter() - start
    if not summary.ok:
        raise SystemExit(f"{backend}: failed runs: {summary}")
    return seconds, pd.read_parquet(out / "results.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="params/smoke-design.yaml")
    args = parser.parse_args()
    config = GridConfig.from_yaml(args.grid)
    with tempfile.TemporaryDirectory() as tmp:
        serial_s, serial = timed_grid(config, "serial", Path(tmp) / "serial")
        dask_s, dask = timed_grid(config, "dask", Path(tmp) / "dask")
    both = serial.merge(dask, on=KEY, suffixes=("_serial", "_dask"))
    assert len(both) == len(serial) == len(dask), "the two backends wrote different rows"
    diff = (both["value_serial"] - both["value_dask"]).abs()
    table = pd.DataFrame({
        "backend": ["serial", "dask, 2 workers"],
        "wall s": [round(serial_s, 1), round(dask_s, 1)],
        "ratio to serial": [1.0, round(dask_s / serial_s, 2)],
    })
    print(f"grid {config.name}: {serial['run_id'].nunique()} runs, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(table.to_markdown(index=False))
    print(f"\nrows {len(both)}; rows that differ {int((diff > 0).sum())}; largest absolute difference {diff.max():.3g}")


if __name__ == "__main__":
    main()
