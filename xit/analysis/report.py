"""The HTML report: execute notebooks/05_report.ipynb with papermill, export it with nbconvert.

The report is self-contained (images embedded as base64, no scripts fetched from the web) and
stamped with the results it was built from, the run parameters, the software versions, the git
commit and the license of every intermediate task the reported runs used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pandas as pd

from xit.analysis.results import (
    describe_missing,
    load_results,
    missing_runs,
    resolve_notebook_path,
    task_names,
)
from xit.errors import XitConfigError
from xit.paths import REPO_ROOT, export_xit_pythonpath, notebook_path

DEFAULT_REPORT_DIR = REPO_ROOT / "outputs" / "report"
PACKAGES = ("torch", "transformers", "datasets", "numpy", "pandas", "scipy", "seaborn", "matplotlib", "faiss-cpu", "papermill", "nbconvert")

# The lab template without the scripts it would fetch from a CDN (require.js, MathJax, mermaid):
# the report must open offline and without network errors.
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def git_commit(root: Path = REPO_ROOT) -> str:
    """The checkout's commit (with '+dirty' when tracked files changed), or 'unknown' outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def software_versions() -> dict[str, str]:
    """Python, xit, the key libraries (read from package metadata, nothing imported), git commit, platform."""
    import xit

    versions = {"python": sys.version.split()[0], "xit": xit.__version__, "git commit": git_commit()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["platform"] = platform.platform()
    return versions


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_parameters(results_path: str | Path, results: pd.DataFrame) -> pd.DataFrame:
    """The distinct training recipes and evaluation settings of the runs (from the grid's runs/<id>/status.json)."""
    runs_dir = resolve_notebook_path(results_path).parent / "runs"
    found: dict[tuple[str, str], list[str]] = {}
    for run in sorted(results["run_id"].unique()):
        status = runs_dir / run / "status.json"
        if not status.is_file():
            continue
        params = json.loads(status.read_text(encoding="utf-8")).get("params", {})
        for field in ("model", "train", "eval"):
            if field in params and (field != "train" or params.get("k")):
                found.setdefault((field, json.dumps(params[field], sort_keys=True)), []).append(run)
    if not found:
        return pd.DataFrame({"parameter": ["run parameters"],
                             "value": [f"no runs/<run_id>/status.json beside {runs_dir.parent}; see the grid file that produced the table"],
                             "runs": [""]})
    return pd.DataFrame([{"parameter": field, "value": value, "runs": len(runs)} for (field, value), runs in found.items()])


def provenance(results_path: str | Path, results: pd.DataFrame) -> pd.DataFrame:
    """What the report was built from: the results file and its runs, the software, the commit, the time."""
    path = resolve_notebook_path(results_path)
    seeds = sorted({int(s) for s in results["seed"].dropna().unique()})
    facts = {
        "results table": str(path),
        "results sha256": _sha256(path)[:16],
        "rows / runs": f"{len(results)} / {results['run_id'].nunique()}",
        "models": ", ".join(sorted(results["model"].unique())),
        "k values": ", ".join(map(str, sorted(results["k"].unique()))),
        "seeds": ", ".join(map(str, seeds)) or "—",
        "layers": ", ".join(map(str, sorted(results["layer"].unique()))),
        "targets": ", ".join(sorted(results["target"].unique())),
        "intermediate tasks": ", ".join(task_names(results)) or "none (baseline only)",
        "runs of the design without results": (describe_missing(missing) if not (missing := missing_runs(path, results)).empty
                                                else "none (or no design-<grid>.parquet beside the table)"),
        "generated (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }
    facts |= software_versions()
    return pd.DataFrame({"value": list(facts.values())}, index=pd.Index(list(facts), name="item"))


def task_licenses(results: pd.DataFrame) -> pd.DataFrame:
    """License of every intermediate task used by the reported runs; non-commercial ones marked."""
    try:
        with warnings.catch_warnings():  # tqdm.auto warns about ipywidgets inside notebooks; not the reader's concern
            warnings.simplefilter("ignore")
            from xit.tasks import get_task
    except ImportError as err:
        raise XitConfigError(f"the task registry xit.tasks cannot be imported ({err}); task licenses need it") from err
    rows = []
    for name in task_names(results):
        spec = get_task(name)
        runs = results.loc[results["tasks"].str.split("+").map(lambda tasks: name in tasks), "run_id"].nunique()
        rows.append({"task": name, "license": spec.license,
                     "non-commercial": "NON-COMMERCIAL" if spec.non_commercial else "no", "runs using it": runs})
    return pd.DataFrame(rows, columns=["task", "license", "non-commercial", "runs using it"])


def export_html(notebook_path: Path, html_path: Path, title: str) -> Path:
    """Export an executed notebook to one self-contained HTML file (code hidden, images embedded)."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True, extra_loaders=[jinja2.DictLoader({"xit_report.html.j2": _TEMPLATE})],
                            template_file="xit_report.html.j2")
    body, _ = exporter.from_notebook_node(nbformat.read(notebook_path, as_version=4), resources={"metadata": {"name": title}})
    html_path.write_text(body, encoding="utf-8")
    return html_path


def build_report(results_path: str | Path, output_dir: str | Path = DEFAULT_REPORT_DIR, timeout: int | None = 600) -> Path:
    """Execute notebooks/05_report.ipynb on a results table and write output_dir/index.html; returns its path."""
    import papermill as pm

    results_file = Path(results_path).expanduser().resolve()
    load_results(results_file)  # fail before starting a kernel, with the message saying how to produce the table
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    executed = out / "05_report.ipynb"
    export_xit_pythonpath()
    report_notebook = notebook_path("05_report.ipynb")  # fails here, before a kernel starts, with the fix
    pm.execute_notebook(str(report_notebook), str(executed), cwd=str(report_notebook.parent),
                        parameters={"results_path": str(results_file), "output_dir": str(out)},
                        kernel_name="python3", progress_bar=False, execution_timeout=timeout,
                        extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    return export_html(executed, out / "index.html", title=f"xit report — {results_file.parent.name}")
