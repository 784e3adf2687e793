"""Headless Chromium for the report tests: one call, its own profile, no network or first-run chatter."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

APT = "apt-get update && apt-get install -y chromium"
#: An embedded figure: its alt text (the figure's title) and its PNG bytes.
IMG = re.compile(r'<img alt="([^"]*)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def chromium(*args: str, profile) -> subprocess.CompletedProcess:
    """Run headless Chromium with args; fail (not skip) naming the install command when it is missing."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail(f"headless Chromium is needed to render the report: install it with `{APT}`", pytrace=False)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120)
