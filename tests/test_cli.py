"""The command line: `python -m xit tasks` prints the task registry as text and as Markdown."""

from __future__ import annotations

import subprocess
import sys

from xit.__main__ import main
from xit.paths import REPO_ROOT


def test_tasks_markdown_table(capsys):
    assert main(["tasks", "--markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:6] == ["name", "head", "offline", "train", "dev", "main_metric"]
    assert set(lines[1]) == {"|", ":", "-"}  # the Markdown rule row under the header
    squad = next(line for line in lines if line.startswith("| squad_v1 "))
    cells = [cell.strip() for cell in squad.strip("|").split("|")]
    assert cells[:3] == ["squad_v1", "span", "True"]
    assert cells[header.index("hub_id")] == "rajpurkar/squad"


def test_tasks_markdown_through_python_m():
    done = subprocess.run([sys.executable, "-m", "xit", "tasks", "--markdown"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("| name ")
    assert any(line.startswith("| anli ") and "| classification " in line for line in done.stdout.splitlines())
