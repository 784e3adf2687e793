"""Build hook: ship the repository's notebooks/ inside the package as xit/notebooks/ (build-time copy).

The repository's notebooks/ stays the only source; a wheel (`pip install .`) gets a copy so the grid
and the report can execute them outside a checkout. Editable installs read notebooks/ directly.
Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOK_SOURCE = Path(__file__).resolve().parent / "notebooks"


class BuildPyWithNotebooks(build_py):
    """build_py that also copies notebooks/*.ipynb into <build_lib>/xit/notebooks/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install finds the checkout's notebooks/ (xit.paths.notebook_path)
        target = Path(self.build_lib) / "xit" / "notebooks"
        target.mkdir(parents=True, exist_ok=True)
        for notebook in sorted(NOTEBOOK_SOURCE.glob("*.ipynb")):
            shutil.copy2(notebook, target / notebook.name)


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithNotebooks})
