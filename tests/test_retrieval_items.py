"""Per-item outcomes: item means (and mining counts) reproduce the result rows, ids are stable, storage is compact."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from xit.retrieval.cache import EmbeddingCache, checkpoint_fingerprint
from xit.retrieval.items import (
    ITEM_COLUMNS,
    MINING_COUNTS,
    ItemCollector,
    aggregate_items,
    write_items,
)
from xit.retrieval.metrics import (
    carried_halves,
    carried_thresholds,
    prf_at_threshold,
    source_counts,
)
from xit.retrieval.suite import (
    ROW_COLUMNS,
    EvalConfig,
    evaluate_encoder,
    evaluate_encoder_with_items,
)

KEYS = ["target", "language", "direction", "layer", "metric"]
RUN_INFO = {"run_id": "items-test", "k": 0}


def _config(data_dir) -> EvalConfig:
    return EvalConfig(
        targets=["tatoeba", "lareqa", "bucc-tatoeba"], layers=[-1, 6], data_dir=str(data_dir), progress=False, cache=False,
        tatoeba_languages=["deu", "fra"], tatoeba_max_sentences=40, lareqa_languages=["en", "de"], lareqa_max_paragraphs=2,
        bucc_tatoeba_languages=["deu"], bucc_tatoeba_pairs=30, bucc_tatoeba_size=100,
    )


@pytest.fixture(scope="module")
def memory_cache(e5_small) -> EmbeddingCache:
    """One in-memory cache for the module: later evaluations of the same texts encode nothing."""
    return EmbeddingCache(checkpoint_fingerprint(e5_small), None)


@pytest.fixture(scope="module")
def evaluated(e5_small, data_dir, memory_cache) -> tuple[pd.DataFrame, pd.DataFrame]:
    return evaluate_encoder_with_items(e5_small, _config(data_dir), run_info=RUN_INFO, cache=memory_cache)


def _joined(rows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    headline = rows[rows["threshold_source"].isin(["NA", "carried-halves"])]
    return aggregate_items(items).merge(headline, on=KEYS, suffixes=("_items", "_row"), validate="one_to_one")


def test_item_columns_and_counts(evaluated, e5_small):
    rows, items = evaluated
    assert list(items.columns) == [*ITEM_COLUMNS, *RUN_INFO]
    assert items["value"].dtype == np.float64 and items["item"].dtype == "category" and items["layer"].dtype == np.int16
    assert sorted(items["layer"].unique()) == [6, e5_small.num_layers]
    sizes = items.groupby(["target", "metric"], observed=True).size()
    # Tatoeba: 2 languages x 40 sentences x 2 directions x 2 layers, for accuracy and gold_rank.
    assert sizes[("tatoeba", "accuracy")] == sizes[("tatoeba", "gold_rank")] == 320
    # LAReQA: one item per question (question id) and layer, both question languages.
    n_questions = int(rows[(rows["target"] == "lareqa") & (rows["language"] == "all") & (rows["metric"] == "map@20")]["n"].iloc[0])
    assert sizes[("lareqa", "map@20")] == sizes[("lareqa", "same_language_top1")] == 2 * n_questions
    # Mining: per source sentence the three counts; each carried half holds half of the 30 gold pairs.
    mining = items[items["target"] == "bucc-tatoeba"]
    gold = mining[mining["metric"] == "gold_pairs"].groupby(["layer", "stratum"], observed=True)["value"].sum()
    assert gold.to_dict() == {(6, "A"): 15.0, (6, "B"): 15.0, (12, "A"): 15.0, (12, "B"): 15.0}
    assert set(mining["threshold_source"]) == {"carried-halves"} and set(items["run_id"]) == {"items-test"}


def test_item_means_equal_row_values(evaluated):
    rows, items = evaluated
    joined = _joined(rows, items)
    assert set(joined["metric"]) == {"accuracy", "map@20", "same_language_top1", "f1", "precision", "recall"}
    # Every language-level headline row has its item aggregate (all but the 'all' rows and LAReQA's q->xx shares).
    language_rows = rows[(rows["language"] != "all") & rows["metric"].isin(joined["metric"]) & (rows["threshold_source"] != "oracle")]
    assert len(joined) == len(language_rows) == 2 * (4 + 2 * 2 + 3)
    np.testing.assert_allclose(joined["value_items"], joined["value_row"], rtol=1e-12, atol=1e-12)
    assert (joined["n_items"] == joined["n_row"]).all()
    # The 'all' rows: Tatoeba = mean of language means, LAReQA = mean over every question.
    overall = rows[rows["language"] == "all"].set_index(["target", "direction", "layer", "metric"])["value"]
    tatoeba = items[(items["target"] == "tatoeba") & (items["metric"] == "accuracy")]
    by_language = tatoeba.groupby(["direction", "layer", "language"], observed=True)["value"].mean()
    for (direction, layer), value in by_language.groupby(level=[0, 1]).mean().items():
        assert value == pytest.approx(overall[("tatoeba", direction, layer, "accuracy")], rel=1e-12)
    lareqa = items[(items["target"] == "lareqa") & (items["metric"] == "map@20")].groupby("layer")["value"].mean()
    for layer, value in lareqa.items():
        assert value == pytest.approx(overall[("lareqa", "q->all", layer, "map@20")], rel=1e-12)


def test_tatoeba_gold_rank_agrees_with_hits(evaluated):
    _, items = evaluated
    tatoeba = items[items["target"] == "tatoeba"].pivot_table(
        index=["language", "direction", "layer", "item"], columns="metric", values="value", observed=True)
    assert ((tatoeba["gold_rank"] == 1) == (tatoeba["accuracy"] == 100.0)).all()
    assert (tatoeba["gold_rank"] >= 1).all() and (tatoeba["gold_rank"] <= 40).all() and (tatoeba["gold_rank"] > 1).any()


def test_items_stable_and_rows_unchanged_without_items(evaluated, e5_small, data_dir, memory_cache):
    rows, items = evaluated
    again_rows, again_items = evaluate_encoder_with_items(e5_small, _config(data_dir), run_info=RUN_INFO, cache=memory_cache)
    pd.testing.assert_frame_equal(again_items, items)
    pd.testing.assert_frame_equal(again_rows, rows)
    # Item ids: Tatoeba line numbers, LAReQA question ids (shared across languages), mined source sentence ids.
    ids = items.groupby("target", observed=True)["item"].apply(lambda s: sorted(set(s.astype(str))))
    assert ids["tatoeba"] == sorted(str(i) for i in range(40))
    assert all(len(i) == 24 for i in ids["lareqa"]) and all(i.startswith("deu-") for i in ids["bucc-tatoeba"])
    plain = evaluate_encoder(e5_small, _config(data_dir), run_info=RUN_INFO, cache=memory_cache)
    assert isinstance(plain, pd.DataFrame) and list(plain.columns) == [*ROW_COLUMNS, *RUN_INFO]
    pd.testing.assert_frame_equal(plain, rows)


def test_write_items_compact_round_trip(evaluated, tmp_path):
    _, items = evaluated
    path = write_items(items, tmp_path / "items.parquet")
    back = pd.read_parquet(path)
    assert back["value"].dtype == np.float32 and back["item"].dtype == "category" and back["metric"].dtype == "category"
    assert len(back) == len(items)
    # float32 keeps 0/100 and counts exact; AP values to within 100 * 2**-24.
    np.testing.assert_allclose(back["value"].to_numpy(np.float64), items["value"].to_numpy(), rtol=0, atol=100 * 2.0**-24)
    assert path.stat().st_size < 40_000, path.stat().st_size


def test_mining_counts_recompute_prf_by_hand():
    gold = {("g1", "e1"), ("g2", "e2"), ("g3", "e3"), ("g4", "e4")}
    src_ids = ["g1", "g2", "g3", "g4", "x1", "x2"]
    pairs = [("g1", "e1"), ("g2", "e2"), ("x1", "e9"), ("g3", "e3"), ("g4", "e5"), ("x2", "e8")]
    scores = np.array([1.5, 1.4, 1.3, 1.2, 1.1, 1.0])
    # At 1.15: g1, g2, x1, g3 predicted; g4's pair (e5) is below and wrong anyway.
    counts = source_counts(pairs, scores, gold, 1.15)
    assert counts == {"g1": (1, 1, 1), "g2": (1, 1, 1), "g3": (1, 1, 1), "g4": (1, 0, 0), "x1": (0, 1, 0)}
    collector = ItemCollector()
    setup = {"layer": 1, "target": "t", "language": "xx", "direction": "xx-en", "split": "s", "prefix": "p", "pooling": "mean",
             "max_length": 8, "precision": "fp32"}

    def add(counts: dict, stratum: str, source: str) -> None:
        ids = sorted(counts)
        for j, metric in enumerate(MINING_COUNTS):
            collector.add({**setup, "metric": metric, "stratum": stratum, "threshold_source": source}, ids, [counts[i][j] for i in ids])

    for half in carried_thresholds(pairs, scores, gold, src_ids, seed=0):
        add(source_counts(half.pairs, half.scores, half.gold, half.threshold), half.name, "carried-halves")
    got = aggregate_items(collector.frame()).set_index("metric")["value"]
    expected = carried_halves(pairs, scores, gold, src_ids, seed=0)
    assert got.to_dict() == pytest.approx({"f1": expected.f1, "precision": expected.precision, "recall": expected.recall}, rel=1e-12)
    # One stratum (a threshold carried from another split): the pooled P/R/F1.
    collector = ItemCollector()
    add(counts, "all", "split:dev")
    got = aggregate_items(collector.frame()).set_index("metric")["value"]
    pooled = prf_at_threshold(pairs, scores, gold, 1.15)
    assert got.to_dict() == pytest.approx({"f1": pooled.f1, "precision": 75.0, "recall": 75.0}, rel=1e-12)


def test_mewslix_items_per_mention(e5_small, tmp_path):
    entities = [("Q1757", "Helsinki is the capital of Finland."), ("Q64", "Berlin ist die Hauptstadt Deutschlands."),
                ("Q90", "Paris est la capitale de la France.")]
    lines = [json.dumps({"entity_id": e, "title": e, "description": d, "sentence_spans": [{"start": 0, "end": len(d)}],
                         "description_language": "en", "description_url": "u"}) for e, d in entities]
    (tmp_path / "candidate_set_entities.jsonl").write_text("\n".join(lines) + "\n")
    text = "Visita a Berlín y París. Luego Helsinki."
    mentions = {"context": {"document_title": "t", "document_url": "u", "document_id": "es-1", "language": "es", "text": text,
                            "sentence_spans": [{"start": 0, "end": 24}, {"start": 25, "end": 40}]},
                "mentions": [{"example_id": f"m{i}", "mention_span": {"start": s, "end": e, "text": text[s:e]}, "entity_id": q}
                             for i, (s, e, q) in enumerate([(9, 15, "Q64"), (18, 23, "Q90"), (31, 39, "Q1757")])]}
    (tmp_path / "wikinews_mentions-dev.jsonl").write_text(json.dumps(mentions, ensure_ascii=False) + "\n")
    config = EvalConfig(targets=["mewslix"], mewslix_dir=str(tmp_path), layers=[-1], cache=False, progress=False)
    rows, items = evaluate_encoder_with_items(e5_small, config)
    assert items["item"].astype(str).tolist() == ["m0", "m1", "m2"] and set(items["metric"]) == {"map@20"}
    # One gold entity among three: AP@20 = 100 / rank of the gold.
    assert set(np.round(100 / items["value"].to_numpy(), 9)) <= {1.0, 2.0, 3.0}
    row = rows[(rows["language"] == "es") & (rows["metric"] == "map@20")]["value"].item()
    assert items["value"].mean() == pytest.approx(row, rel=1e-12)
