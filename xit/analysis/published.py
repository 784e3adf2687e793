"""Published reference numbers, and xit's numbers next to them only where xit ran the same setup.

Each reference row carries its source and the setup that produced it. xit fills its own value
only when the results table holds a run with that setup (model, layer, languages, split); otherwise
the row says what xit ran instead, so no offline e5-small number is ever read as the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xit.analysis.results import headline_rows, primary_layer

#: XTREME's 36 Tatoeba languages as LASER file codes (PROTOCOL.md).
XTREME36 = ("afr ara bul ben deu ell spa est eus pes fin fra heb hin hun ind ita jpn jav kat kaz kor mal mar "
            "nld por rus swh tam tel tha tgl tur urd vie cmn").split()
#: Gold pairs in the BUCC 2018 zh-en *sample* set (the only complete BUCC set offline; XTREME's 'dev').
BUCC_SAMPLE_GOLD_PAIRS = {"zh": 257}

XTREME = "Hu et al. 2020, XTREME (arXiv 2003.11080), XLM-R Large zero-shot"
JIANT = "jiant XTREME validation run, XLM-R Large (max length 256), as noted in xit's PROTOCOL.md"
PHANG = "Phang et al. 2020 (arXiv 2005.13013)"


@dataclass(frozen=True)
class Reference:
    """One published number and the setup that produced it."""

    source: str
    setup: str
    target: str
    language: str
    metric: str
    value: float
    model_key: str | None = None  # substring of the model name that must match; None: xit cannot run it
    layer: int | None = None
    k: int = 0
    languages: tuple[str, ...] = ()
    bucc_split: str | None = None  # 'training' = XTREME's test split


REFERENCES: tuple[Reference, ...] = (
    *(Reference(XTREME + ", table of BUCC results", "XLM-R Large, layer 14 of 24, mean pooling; BUCC official training set (XTREME 'test'), F1 at tuned threshold",
                "bucc", lang, "f1", value, "xlm-roberta-large", 14, 0, (lang,), "training")
      for lang, value in (("de", 67.5), ("fr", 66.5), ("ru", 73.5), ("zh", 56.7))),
    Reference(XTREME + ", table 2", "XLM-R Large, layer 14 of 24; BUCC average of de/fr/ru/zh (official training set)",
              "bucc", "avg(de,fr,ru,zh)", "f1", 66.0, "xlm-roberta-large", 14, 0, ("de", "fr", "ru", "zh"), "training"),
    Reference(XTREME + ", table 2", "XLM-R Large, layer 14 of 24; Tatoeba 36-language average, xx->en accuracy",
              "tatoeba", "avg(xtreme36)", "accuracy", 57.3, "xlm-roberta-large", 14, 0, tuple(XTREME36)),
    Reference(XTREME + ", per-language table", "same setup; average of the per-language table",
              "tatoeba", "avg(xtreme36)", "accuracy", 57.7, "xlm-roberta-large", 14, 0, tuple(XTREME36)),
    Reference(JIANT, "XLM-R Large, max length 256 (differs from the XTREME paper)",
              "bucc", "avg(de,fr,ru,zh)", "f1", 71.5, "xlm-roberta-large", 14, 0, ("de", "fr", "ru", "zh"), "training"),
    Reference(JIANT, "XLM-R Large, max length 256 (differs from the XTREME paper)",
              "tatoeba", "avg(xtreme36)", "accuracy", 31.0, "xlm-roberta-large", 14, 0, tuple(XTREME36)),
    Reference(PHANG, "XLM-R Large + best English intermediate task per target task, average over all XTREME tasks "
              "(gain in points over XLM-R Large; not a retrieval-only number)", "xtreme (all tasks)", "avg", "gain", 5.4),
)


def reference_table() -> pd.DataFrame:
    """Every reference number with its source and setup."""
    return pd.DataFrame([{"target": r.target, "language": r.language, "metric": r.metric, "published": r.value,
                          "setup": r.setup, "source": r.source} for r in REFERENCES])


def _describe(rows: pd.DataFrame) -> str:
    models = ", ".join(sorted(rows["model"].unique())) or "nothing"
    layers = ", ".join(map(str, sorted(rows["layer"].unique())))
    return f"{models}, layer(s) {layers}"


def _match(reference: Reference, rows: pd.DataFrame) -> tuple[float, str]:
    """xit's value for a reference setup, or NaN and what xit ran instead."""
    if reference.model_key is None:
        return np.nan, "not run: xit evaluates the retrieval targets only, not every XTREME task"
    target_rows = rows[(rows["target"] == reference.target) & (rows["k"] == reference.k)]
    if reference.target == "tatoeba":
        target_rows = target_rows[target_rows["direction"] == "xx->en"]
    if target_rows.empty:
        return np.nan, f"not run: no {reference.target} rows at k={reference.k}"
    same_model = target_rows[target_rows["model"].str.lower().str.contains(reference.model_key)]
    same_layer = same_model[same_model["layer"] == reference.layer]
    if same_layer.empty:
        return np.nan, f"not run: xit ran {_describe(target_rows)}; this number needs {reference.model_key}, layer {reference.layer}"
    missing = sorted(set(reference.languages) - set(same_layer["language"]))
    if missing:
        return np.nan, f"not run: languages {', '.join(missing)} missing from xit's {reference.target} rows"
    chosen = same_layer[same_layer["language"].isin(reference.languages)]
    if reference.bucc_split == "training":
        sample = [lang for lang, pairs in BUCC_SAMPLE_GOLD_PAIRS.items()
                  if (chosen.loc[chosen["language"] == lang, "n"] == pairs).any()]
        if sample:
            return np.nan, f"not comparable: xit's BUCC {', '.join(sample)} rows are the sample set (XTREME used the training set)"
    value = chosen.groupby("language")["value"].mean().mean()
    return float(value), f"xit: {_describe(same_layer)}, k={reference.k}, {len(reference.languages)} language(s)"


def comparison_table(results: pd.DataFrame) -> pd.DataFrame:
    """Published numbers with their source, and xit's value where it ran the same setup (else what it ran)."""
    rows = headline_rows(results)
    out = []
    for reference in REFERENCES:
        value, setup = _match(reference, rows)
        out.append({"target": reference.target, "language": reference.language, "metric": reference.metric,
                    "published": reference.value, "published setup": reference.setup, "source": reference.source,
                    "xit": value, "xit setup": setup})
    return pd.DataFrame(out)


def own_numbers(results: pd.DataFrame, layer: int | None = None) -> pd.DataFrame:
    """xit's untrained-baseline (k=0) averages per target and direction, each with the setup that produced it."""
    rows = headline_rows(results)
    chosen = primary_layer(results) if layer is None else layer
    rows = rows[(rows["k"] == 0) & (rows["layer"] == chosen)]
    out = []
    for (target, direction, metric), group in rows.groupby(["target", "direction", "metric"], sort=True):
        languages = sorted(group["language"].unique())
        gold = group["n"].dropna().unique()
        out.append({"target": target, "direction": direction, "metric": metric,
                    "xit (k=0)": group.groupby("language")["value"].mean().mean(),
                    "languages": len(languages),
                    "setup": f"{_describe(group)}, untrained, languages: {', '.join(languages[:12])}{' ...' if len(languages) > 12 else ''}"
                             + (f", n={int(gold[0])}" if len(gold) == 1 else ""),
                    "comparable with": "no published number (xit's offline setup, not the paper's)"})
    return pd.DataFrame(out)
