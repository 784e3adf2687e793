"""Published reference numbers, and xit's numbers next to them only where xit ran the same setup.

Each reference row names its source (paper and table, or repository, path and commit), the model,
metric, language set, direction, layer and data split that produced it. `match_published` pairs a
reference with xit's result rows only when every one of those matches; otherwise it says
"different setup" and what xit ran instead, so no offline e5-small number is read as the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xit.analysis.results import headline_rows, primary_layer

#: XTREME's 36 Tatoeba languages as LASER file codes (Hu et al. 2020, arXiv 2003.11080).
XTREME36 = ("afr ara bul ben deu ell spa est eus pes fin fra heb hin hun ind ita jpn jav kat kaz kor mal mar "
            "nld por rus swh tam tel tha tgl tur urd vie cmn").split()

XTREME = "Hu et al. 2020, XTREME (arXiv 2003.11080)"
JIANT = "jiant XTREME validation run, XLM-R Large (max length 256); source not re-verified by xit"
PHANG = "Phang et al. 2020 (arXiv 2005.13013)"
#: MTEB's official results for intfloat/multilingual-e5-small (model revision e4ce9877, mteb 1.12.75).
MTEB_RESULTS = ("github.com/embeddings-benchmark/results, results/intfloat__multilingual-e5-small/"
                "e4ce9877abf3edfe10b0d82785e83bdcb973e22e/{file} (commit {commit})")
MTEB_TATOEBA_SETUP = ("MTEB Tatoeba (mteb/tatoeba-bitext-mining, LASER Tatoeba v1 test: 1000 pairs per language): "
                      "for each non-English sentence the nearest English sentence by cosine (mteb BitextMiningEvaluator: "
                      "sentence1 = xx, sentence2 = eng), accuracy = share whose nearest neighbour is the gold translation; "
                      "e5-small last layer, mean pooling, 'query: ' prefix on both sides (the e5 model card's rule for "
                      "non-retrieval tasks)")
MTEB_BUCC_SETUP = ("MTEB BUCC.v2 (mteb/bucc-bitext-mining): nearest-neighbour retrieval for each gold-aligned source "
                   "sentence, weighted F1 of those predictions; no margin scoring and no threshold, so not BUCC mining F1")


@dataclass(frozen=True)
class Reference:
    """One published number and the setup that produced it (the fields `match_published` compares)."""

    source: str
    model: str
    target: str
    metric: str
    language: str  # the label shown: one language, or e.g. 'avg(xtreme36)'
    value: float
    setup: str  # the protocol in words
    model_family: str | None = None  # substring of xit's model name that must match; None: xit cannot run it
    languages: tuple[str, ...] = ()
    direction: str | None = None
    layer: int | None = None  # hidden_states index (XLM-R Large: 14 of 24; e5-small: 12 = last)
    k: int = 0
    split: str | None = None  # BUCC: 'training' = the official training set (XTREME's 'test')
    n: int | None = None  # items per language the number was computed on (Tatoeba: 1000)
    prefix: str | None = None  # text prefix both sides carried; xit rows must say the same
    protocol_in_xit: bool = True  # False: xit has no evaluation with this protocol at all


def _mteb_tatoeba(lang: str, accuracy: float) -> Reference:
    return Reference(MTEB_RESULTS.format(file="Tatoeba.json", commit="319e81d6"), "intfloat/multilingual-e5-small",
                     "tatoeba", "accuracy", lang, accuracy, MTEB_TATOEBA_SETUP, "multilingual-e5-small", (lang,),
                     "xx->en", 12, 0, None, 1000, "query: ")


def _mteb_bucc(lang: str, f1: float) -> Reference:
    return Reference(MTEB_RESULTS.format(file="BUCC.v2.json", commit="d3ead282"), "intfloat/multilingual-e5-small",
                     "bucc", "f1", lang, f1, MTEB_BUCC_SETUP, "multilingual-e5-small", (lang,), "xx-en", 12,
                     protocol_in_xit=False)


REFERENCES: tuple[Reference, ...] = (
    *(Reference(XTREME + ", BUCC per-language results table", "XLM-R Large", "bucc", "f1", lang, value,
                "XLM-R Large, layer 14 of 24, mean pooling; BUCC official training set (XTREME 'test'), F1 at the tuned threshold",
                "xlm-roberta-large", (lang,), "xx-en", 14, 0, "training")
      for lang, value in (("de", 67.5), ("fr", 66.5), ("ru", 73.5), ("zh", 56.7))),
    Reference(XTREME + ", Table 2", "XLM-R Large", "bucc", "f1", "avg(de,fr,ru,zh)", 66.0,
              "XLM-R Large, layer 14 of 24; BUCC average of de/fr/ru/zh (official training set)",
              "xlm-roberta-large", ("de", "fr", "ru", "zh"), "xx-en", 14, 0, "training"),
    Reference(XTREME + ", Table 2", "XLM-R Large", "tatoeba", "accuracy", "avg(xtreme36)", 57.3,
              "XLM-R Large, layer 14 of 24; Tatoeba 36-language average, xx->en accuracy",
              "xlm-roberta-large", tuple(XTREME36), "xx->en", 14),
    Reference(XTREME + ", Tatoeba per-language table", "XLM-R Large", "tatoeba", "accuracy", "avg(xtreme36)", 57.7,
              "same setup; average of the per-language table", "xlm-roberta-large", tuple(XTREME36), "xx->en", 14),
    Reference(JIANT, "XLM-R Large", "bucc", "f1", "avg(de,fr,ru,zh)", 71.5,
              "XLM-R Large, max length 256 (differs from the XTREME paper)",
              "xlm-roberta-large", ("de", "fr", "ru", "zh"), "xx-en", 14, 0, "training"),
    Reference(JIANT, "XLM-R Large", "tatoeba", "accuracy", "avg(xtreme36)", 31.0,
              "XLM-R Large, max length 256 (differs from the XTREME paper)",
              "xlm-roberta-large", tuple(XTREME36), "xx->en", 14),
    Reference(PHANG, "XLM-R Large + best English intermediate task per target", "xtreme (all tasks)", "gain", "avg", 5.4,
              "gain in points over XLM-R Large, average over all XTREME tasks (not a retrieval-only number)"),
    *(_mteb_tatoeba(lang, acc) for lang, acc in (("deu", 97.9), ("fra", 92.4), ("cmn", 92.1), ("rus", 92.1))),
    *(_mteb_bucc(lang, f1) for lang, f1 in (("de", 98.74), ("fr", 93.97), ("ru", 94.42), ("zh", 94.05))),
)

#: BUCC 2018's official split names and XTREME's renamings (XTREME: sample -> dev, training -> test).
SPLIT_NAMES = {"training": {"training", "test"}, "sample": {"sample", "dev"}}
#: The two labels of `match_published`'s `match` column.
SAME, DIFFERENT = "same setup", "different setup"


def reference_table(published: tuple[Reference, ...] = REFERENCES) -> pd.DataFrame:
    """Every reference number with its model, setup and source."""
    return pd.DataFrame([{"target": r.target, "language": r.language, "metric": r.metric, "model": r.model,
                          "published": r.value, "setup": r.setup, "source": r.source} for r in published])


def _describe(rows: pd.DataFrame) -> str:
    models = ", ".join(sorted(rows["model"].unique())) or "nothing"
    layers = ", ".join(map(str, sorted(rows["layer"].unique())))
    return f"{models}, layer(s) {layers}"


def _column_values(rows: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of an optional column ('unknown' where absent or empty)."""
    if column not in rows:
        return ["unknown"]
    return sorted({"unknown" if pd.isna(v) else str(v) for v in rows[column]})


def _mismatch(reference: Reference, rows: pd.DataFrame) -> tuple[str | None, pd.DataFrame]:
    """Why xit's rows do not reproduce the reference's setup (None when they do), and the matching rows."""
    if reference.model_family is None:
        return "xit evaluates the retrieval targets only, not every XTREME task", rows.iloc[:0]
    if not reference.protocol_in_xit:
        return "xit has no evaluation with this protocol", rows.iloc[:0]
    chosen = rows[(rows["target"] == reference.target) & (rows["metric"] == reference.metric) & (rows["k"] == reference.k)]
    if chosen.empty:
        return f"no {reference.target} {reference.metric} rows at k={reference.k}", chosen
    steps = (
        ("model", lambda r: r["model"].str.lower().str.contains(reference.model_family.lower(), regex=False),
         f"model {reference.model_family}"),
        ("direction", lambda r: r["direction"] == reference.direction, f"direction {reference.direction}"),
        ("layer", lambda r: r["layer"] == reference.layer, f"layer {reference.layer}"),
    )
    for column, keep, needed in steps:
        kept = chosen[keep(chosen)]
        if kept.empty:
            ran = ", ".join(map(str, sorted(chosen[column].unique())))
            return f"xit ran {column} {ran}; this number needs {needed}", kept
        chosen = kept
    missing = sorted(set(reference.languages) - set(chosen["language"]))
    if missing:
        return f"languages {', '.join(missing)} missing from xit's {reference.target} rows", chosen.iloc[:0]
    chosen = chosen[chosen["language"].isin(reference.languages)]
    if reference.n is not None and not (chosen["n"] == reference.n).all():
        return f"xit's rows have n={', '.join(map(str, sorted(chosen['n'].unique())))}; this number used n={reference.n}", chosen.iloc[:0]
    # The split, threshold origin and prefix come from columns the evaluation stamps; absent = unknown = no match.
    for column, wanted in (("split", reference.split), ("passage_prefix", reference.prefix)):
        if wanted is not None:
            present = _column_values(chosen, column)
            if not set(present) <= SPLIT_NAMES.get(wanted, {wanted}):
                return f"xit's {column} is {', '.join(map(repr, present))}; this number used {wanted!r}", chosen.iloc[:0]
    return None, chosen


def match_published(results: pd.DataFrame, published: tuple[Reference, ...] = REFERENCES) -> pd.DataFrame:
    """One row per reference: xit's value where its rows have the same setup, else 'different setup' and why."""
    out = []
    for reference in published:
        reason, rows = _mismatch(reference, results)
        same = reason is None
        value = float(rows.groupby("language")["value"].mean().mean()) if same else np.nan
        ran = f"xit: {_describe(rows)}, k={reference.k}, {len(reference.languages)} language(s)" if same else reason
        out.append({"target": reference.target, "language": reference.language, "metric": reference.metric,
                    "model": reference.model, "published": reference.value, "setup": reference.setup,
                    "source": reference.source, "match": SAME if same else DIFFERENT, "xit": value, "xit setup": ran})
    return pd.DataFrame(out)


def comparison_table(results: pd.DataFrame) -> pd.DataFrame:
    """Published numbers with their source, and xit's value where it ran the same setup (else what it ran)."""
    table = match_published(headline_rows(results))
    table["xit setup"] = [text if match == SAME else f"not run: {text}" for match, text in zip(table["match"], table["xit setup"])]
    return table.rename(columns={"setup": "published setup"})


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
