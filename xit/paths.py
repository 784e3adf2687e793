"""Where xit finds shared data, caches models and embeddings, and writes outputs."""

from __future__ import annotations

import os
from pathlib import Path

from xit.errors import DataNotFoundError, XitConfigError

#: The one setting that tells xit where the offline data lives.
DATA_ENV = "XIT_DATA_DIR"
#: Where converted models and embedding caches go (not in git).
CACHE_ENV = "XIT_CACHE_DIR"

#: Points xit at a notebooks/ folder explicitly (e.g. an installed xit using a checkout's notebooks).
NOTEBOOK_ENV = "XIT_NOTEBOOK_DIR"

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The installed package; a wheel built from a checkout carries the notebooks here (setup.py copies them).
PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(required: bool = True) -> Path:
    """The offline data root: $XIT_DATA_DIR, else ../shared/data beside the repository."""
    env = os.environ.get(DATA_ENV)
    path = Path(env).expanduser() if env else (REPO_ROOT.parent / "shared" / "data")
    if required and not path.is_dir():
        raise DataNotFoundError(
            f"xit data directory {str(path)!r} does not exist. "
            f"Set {DATA_ENV}=/path/to/shared/data (the folder holding tatoeba-v1/, bucc2018/, tasks/ ...), "
            "or use the hub loaders (source='hub') on a machine with internet."
        )
    return path


def cache_dir() -> Path:
    """The cache root for converted models and embeddings: $XIT_CACHE_DIR, else ~/.cache/xit."""
    env = os.environ.get(CACHE_ENV)
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "xit"
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_files(paths: list[Path], what: str, hint: str = "") -> None:
    """Fail with one message listing every expected file that is missing."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        more = f" {hint}" if hint else f" Point {DATA_ENV} at the data root."
        raise DataNotFoundError(f"{what}: expected file(s) not found: {', '.join(missing)}.{more}")


def export_xit_pythonpath() -> None:
    """Let notebook kernels (papermill, the report) import this xit even from a checkout that is not pip-installed."""
    root = str(REPO_ROOT)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *parts])

def notebook_dirs() -> list[Path]:
    """Where xit looks for its notebooks, in order: $XIT_NOTEBOOK_DIR, the checkout's notebooks/, the packaged copy."""
    env = os.environ.get(NOTEBOOK_ENV)
    if env:
        return [Path(env).expanduser()]  # an explicit setting is never silently bypassed
    return [REPO_ROOT / "notebooks", PACKAGE_DIR / "notebooks"]


def notebook_path(name: str) -> Path:
    """The path of one of xit's notebooks (e.g. '02_retrieval.ipynb'); XitConfigError naming the fix when absent."""
    file_name = Path(name).name
    if not file_name.endswith(".ipynb") or Path(name).parent not in (Path("."), Path("notebooks")):
        raise XitConfigError(f"notebook name {name!r} is not one of xit's notebooks; give a file name such as '02_retrieval.ipynb'")
    places = notebook_dirs()
    for folder in places:
        if (folder / file_name).is_file():
            return (folder / file_name).resolve()
    where = " and ".join(str(folder) for folder in places)
    if os.environ.get(NOTEBOOK_ENV):
        fix = f"point {NOTEBOOK_ENV} at a folder holding xit's notebooks (a checkout's notebooks/), or unset it"
    else:
        fix = (f"this xit was installed without its notebooks. Install from a checkout (`pip install /path/to/xit` "
               f"ships them; `pip install -e /path/to/xit` uses the checkout's), or set {NOTEBOOK_ENV}=/path/to/xit/notebooks")
    raise XitConfigError(f"notebook {file_name!r} not found (looked in {where}): {fix}.")
