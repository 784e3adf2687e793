"""The report built from the committed study table (results/study/): every figure the table supports, a note for
each it cannot, tables that match the committed rows, and a page that opens in headless Chromium."""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path

import pandas as pd
import pytest
from chromium import IMG, chromium

from xit.analysis.report import build_report

STUDY = Path(__file__).resolve().parent.parent / "results" / "study" / "results.parquet"
ALWAYS = ["The answer: effect sizes on the primary endpoint", "Zero-shot retrieval vs number", "Robustness across languages",
          "Spread across task subsets", "Tatoeba: per-language gain", "Tatoeba: layer sweep", "LAReQA language bias",
          "Retrieval against drift from the start"]
#: A figure that needs runs of one kind, and the note the report shows until the study has them.
BY_KIND = {"mlm": ("English intermediate tasks against continued multilingual MLM", "no continued-MLM runs"),
           "interpolation": ("Weight interpolation", "no interpolation runs")}


@pytest.fixture(scope="module")
def study():
    assert STUDY.is_file(), "results/study/results.parquet is missing: run `python -m xit collect params/study.yaml`"
    return pd.read_parquet(STUDY)


@pytest.fixture(scope="module")
def report(study, tmp_path_factory):
    return build_report(STUDY, tmp_path_factory.mktemp("study-report") / "report")


def test_the_study_report_shows_every_figure_its_runs_support_and_says_why_for_the_rest(study, report):
    page = report.read_text(encoding="utf-8")
    titles = [htmllib.unescape(alt) for alt, _ in IMG.findall(page)]
    kinds = set(study["kind"].dropna().astype(str))
    expected = ALWAYS + [figure for kind, (figure, _) in BY_KIND.items() if kind in kinds]
    assert sorted(t for e in expected for t in titles if t.startswith(e)) == sorted(titles) and len(titles) == len(expected), titles
    notes = re.findall(r"<b>Not shown:</b> ([^<]*)", page)
    expected_notes = [note for kind, (_, note) in BY_KIND.items() if kind not in kinds] + ["no published number has the same setup"]
    assert sorted(n for n in notes for e in expected_notes if n.startswith(e)) == sorted(notes) and len(notes) == len(expected_notes), notes
    assert "Traceback" not in page and 'data-mime-type="application/vnd.jupyter.stderr"' not in page


def test_the_study_reports_tables_are_the_committed_rows(study, report):
    endpoint = pd.read_csv(report.parent / "tables" / "endpoint.csv").iloc[0]
    untrained = study[(study["kind"] == "none") & (study["target"] == endpoint["target"]) & (study["direction"] == endpoint["direction"])
                      & (study["layer"] == endpoint["layer"]) & (study["metric"] == endpoint["metric"])]["value"].mean()
    assert endpoint["named in"] == "grid.json" and endpoint["untrained (k=0)"] == pytest.approx(untrained)
    assert endpoint["task runs"] == study.loc[study["kind"] == "task", "run_id"].nunique()
    at_endpoint = study[(study["target"] == endpoint["target"]) & (study["direction"] == endpoint["direction"])
                        & (study["layer"] == endpoint["layer"]) & (study["metric"] == endpoint["metric"])]
    run_scores = at_endpoint[at_endpoint["kind"] == "task"].groupby("run_id")["value"].mean()  # a run's score: mean over languages
    effects = pd.read_csv(report.parent / "tables" / "effect_sizes.csv")
    trained = effects[effects["effect"].str.startswith("trained − untrained")].iloc[0]
    assert trained["estimate"] == pytest.approx(run_scores.mean() - untrained)
    assert trained["ci_low"] < trained["estimate"] < trained["ci_high"]
    assert {"2", "3", "4", "5"} <= set(effects["section"].str[0])  # training vs none, task effects, k effects, robustness


def test_the_study_report_opens_in_headless_chromium(report, tmp_path):
    dom = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom.stdout)) == len(IMG.findall(report.read_text(encoding="utf-8")))
    assert [line for line in dom.stderr.splitlines() if "CONSOLE" in line] == []
