"""xit finds its notebooks in a checkout, in a wheel install, or via XIT_NOTEBOOK_DIR, and says the fix otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import xit.paths
from xit.errors import XitConfigError
from xit.paths import NOTEBOOK_ENV, REPO_ROOT, notebook_path

NOTEBOOKS = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(NOTEBOOK_ENV, raising=False)


def test_checkout_notebooks_found_from_any_directory(no_env, monkeypatch, tmp_path):
    expected = (REPO_ROOT / "notebooks" / "02_retrieval.ipynb").resolve()
    monkeypatch.chdir(tmp_path)
    assert notebook_path("02_retrieval.ipynb") == expected
    assert notebook_path("notebooks/02_retrieval.ipynb") == expected


def test_packaged_copy_found_when_not_in_a_checkout(no_env, monkeypatch, tmp_path):
    site = tmp_path / "site-packages"
    (site / "xit" / "notebooks").mkdir(parents=True)
    (site / "xit" / "notebooks" / "05_report.ipynb").write_text("{}")
    monkeypatch.setattr(xit.paths, "REPO_ROOT", site)
    monkeypatch.setattr(xit.paths, "PACKAGE_DIR", site / "xit")
    assert notebook_path("05_report.ipynb") == (site / "xit" / "notebooks" / "05_report.ipynb").resolve()


def test_install_without_notebooks_names_the_fix(no_env, monkeypatch, tmp_path):
    monkeypatch.setattr(xit.paths, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(xit.paths, "PACKAGE_DIR", tmp_path / "site-packages" / "xit")
    with pytest.raises(XitConfigError, match=r"notebook '01_intermediate_training.ipynb' not found \(looked in .*site-packages/notebooks "
                                             r"and .*site-packages/xit/notebooks\): this xit was installed without its notebooks.*"
                                             r"pip install -e /path/to/xit.*XIT_NOTEBOOK_DIR=/path/to/xit/notebooks"):
        notebook_path("01_intermediate_training.ipynb")


def test_env_folder_is_used_and_never_bypassed(monkeypatch, tmp_path):
    (tmp_path / "02_retrieval.ipynb").write_text("{}")
    monkeypatch.setenv(NOTEBOOK_ENV, str(tmp_path))
    assert notebook_path("02_retrieval.ipynb") == (tmp_path / "02_retrieval.ipynb").resolve()
    with pytest.raises(XitConfigError, match=rf"'03_scaling.ipynb' not found \(looked in {tmp_path}\): point {NOTEBOOK_ENV}"):
        notebook_path("03_scaling.ipynb")


def test_bad_notebook_name(no_env):
    with pytest.raises(XitConfigError, match="'params/demo.yaml' is not one of xit's notebooks"):
        notebook_path("params/demo.yaml")


def test_wheel_ships_the_notebooks(tmp_path):
    """`pip install .` (a wheel) carries notebooks/ as xit/notebooks/, byte for byte, and xit finds them there."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO_ROOT / name, src / name)
    for folder in ("xit", "notebooks"):
        shutil.copytree(REPO_ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("xit-*.whl"))
    shipped = sorted(n.split("/")[-1] for n in zipfile.ZipFile(wheel).namelist() if n.startswith("xit/notebooks/"))
    assert shipped == NOTEBOOKS and len(NOTEBOOKS) == 5
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != NOTEBOOK_ENV} | {"PYTHONPATH": str(site)}
    found = subprocess.run([sys.executable, "-c", "from xit.paths import notebook_path; print(notebook_path('02_retrieval.ipynb'))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(found) == (site / "xit" / "notebooks" / "02_retrieval.ipynb").resolve()
    assert Path(found).read_bytes() == (REPO_ROOT / "notebooks" / "02_retrieval.ipynb").read_bytes()
