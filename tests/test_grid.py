"""Grid design, run ids and validation (no notebook is executed here)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from xit.errors import DataNotFoundError, XitConfigError
from xit.grid import (
    GridConfig,
    balanced_subsets,
    design_subsets,
    encoder_key,
    expand_runs,
    resolve_grid,
    run_id,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "notebooks"


def fixture_grid(tmp_path: Path, **fields) -> GridConfig:
    """A small valid grid over three offline tasks, run by the fixture notebooks."""
    base = dict(
        ks=[0, 1, 2],
        pool=["rte", "mrpc", "cola"],
        subsets_per_k=2,
        seeds=[0, 1],
        train={"max_steps": 2, "max_train_examples": {"rte": 50, "cola": 40}},
        eval={"targets": ["tatoeba"], "tatoeba_languages": ["deu", "fra"], "tatoeba_max_sentences": 20},
        output_dir=str(tmp_path / "out"),
        training_notebook=str(FIXTURES / "fixture_training.ipynb"),
        retrieval_notebook=str(FIXTURES / "fixture_retrieval.ipynb"),
    )
    base.update(fields)
    return GridConfig.from_dict(base)


def assert_balanced(subsets: list[tuple[str, ...]], pool: tuple[str, ...], k: int) -> None:
    """Every task in floor(mk/n) or ceil(mk/n) subsets; subsets distinct and of size k."""
    m, n = len(subsets), len(pool)
    assert len(set(subsets)) == m
    assert all(len(s) == k and len(set(s)) == k and set(s) <= set(pool) for s in subsets)
    counts = Counter(t for s in subsets for t in s)
    per_task = [counts.get(t, 0) for t in pool]
    assert min(per_task) >= math.floor(m * k / n) and max(per_task) <= math.ceil(m * k / n), (k, per_task)


def test_wide_design_is_balanced_and_reproducible(data_dir):
    config = GridConfig.from_yaml(REPO / "params" / "wide.yaml")
    grid = resolve_grid(config)
    assert len(grid.pool) == 17
    design = design_subsets(config, grid.pool, grid.ks)
    assert sorted(design) == [0, 1, 2, 4, 8, 12, 17]
    assert design[0] == [()]
    assert sorted(design[1]) == sorted((t,) for t in grid.pool)  # every singleton
    assert design[17] == [tuple(sorted(grid.pool))]  # the full set
    for k in (2, 4, 8, 12):
        assert len(design[k]) == config.subsets_per_k
        assert_balanced(design[k], grid.pool, k)
    assert design_subsets(config, grid.pool, grid.ks) == design  # same design_seed, same design
    other = design_subsets(GridConfig.from_dict({**vars(config), "design_seed": 1}), grid.pool, grid.ks)
    assert other[4] != design[4]

    runs = expand_runs(grid)
    per_seed = 17 + 4 * config.subsets_per_k + 1
    assert len(runs) == 1 + per_seed * len(config.seeds)  # one baseline, shared by all seeds
    assert len({r.run_id for r in runs}) == len(runs)
    assert [r.k for r in runs if r.k == 0] == [0] and runs[0].seed is None and runs[0].encoder_key is None


@pytest.mark.parametrize("n,k,m", [(3, 2, 2), (5, 2, 7), (6, 3, 19), (7, 3, 35), (9, 4, 5), (17, 16, 9), (4, 2, 6)])
def test_balanced_subsets_any_size(n, k, m):
    pool = tuple(f"t{i}" for i in range(n))
    subsets = balanced_subsets(pool, k, m, seed=3)
    assert_balanced(subsets, pool, k)
    assert balanced_subsets(pool, k, m, seed=3) == subsets


def test_singletons_and_full_set_always_in_the_design(tmp_path, data_dir):
    grid = resolve_grid(fixture_grid(tmp_path, ks=[0, 2], seeds=[0]))
    assert grid.ks == (0, 1, 2, 3)
    by_k = Counter(r.k for r in expand_runs(grid))
    assert by_k == {0: 1, 1: 3, 2: 2, 3: 1}


def test_run_ids_are_stable_and_hash_the_resolved_parameters(tmp_path, data_dir):
    first = expand_runs(resolve_grid(fixture_grid(tmp_path)))
    again = expand_runs(resolve_grid(fixture_grid(tmp_path / "elsewhere")))
    assert [r.run_id for r in first] == [r.run_id for r in again]  # output_dir is not a parameter
    # A default written out explicitly is the same recipe; a changed value is a new run.
    explicit = expand_runs(resolve_grid(fixture_grid(tmp_path, train={"max_steps": 2, "learning_rate": 2e-5,
                                                                      "max_train_examples": {"rte": 50, "cola": 40}})))
    assert [r.run_id for r in explicit] == [r.run_id for r in first]
    changed = expand_runs(resolve_grid(fixture_grid(tmp_path, train={"max_steps": 3})))
    assert {r.run_id for r in changed if r.k > 0}.isdisjoint(r.run_id for r in first)
    assert [r.run_id for r in changed if r.k == 0] == [r.run_id for r in first if r.k == 0]  # baseline untouched
    # Evaluation-only changes keep the encoder cache keys (no retraining), but give new run ids.
    evaluated = expand_runs(resolve_grid(fixture_grid(tmp_path, eval={"targets": ["tatoeba"], "tatoeba_languages": ["deu"]})))
    assert [r.encoder_key for r in evaluated] == [r.encoder_key for r in first]
    assert {r.run_id for r in evaluated}.isdisjoint(r.run_id for r in first)
    # Per-task caps follow the subset: a run only sees caps of its own tasks.
    rte = next(r for r in first if r.tasks == ("rte",))
    assert rte.train == {"max_steps": 2, "max_train_examples": {"rte": 50}}
    assert next(r for r in first if r.tasks == ("mrpc",)).train == {"max_steps": 2}
    # The id is a pure function of (model, sorted tasks, seed, recipe, evaluation).
    assert run_id("m", ["b", "a"], 1, {"x": 1}, {"y": 2}) == run_id("m", ["a", "b"], 1, {"x": 1}, {"y": 2})
    assert run_id("m", ["a"], 1, {}, {}).startswith("k1-") and len(run_id("m", ["a"], 1, {}, {})) == 13
    assert run_id("m", [], 0, {"x": 1}, {}) == run_id("m", [], 5, {}, {})  # the baseline has no seed or recipe
    assert encoder_key("m", ["a"], 0, {}) != encoder_key("m", ["a"], 1, {})


@pytest.mark.parametrize(
    "fields,error,message",
    [
        ({"ks": [0, 4]}, XitConfigError, "k=4 is larger than the pool (3 tasks: rte, mrpc, cola)"),
        ({"pool": ["rte", "mrcp"]}, XitConfigError, "unknown task 'mrcp'. Did you mean 'mrpc'?"),
        ({"pool": "all-ofline"}, XitConfigError, "unknown task pool 'all-ofline'"),
        ({"subsets_per_k": 4}, XitConfigError, "asks for 4 subsets of k=2 tasks, but a pool of 3 has only C(3,2) = 3"),
        ({"subsets_per_k": {2: 2, 5: 1}}, XitConfigError, "subsets_per_k names k=5, which is not in ks"),
        ({"seeds": [0, 1, 0]}, XitConfigError, "duplicate seed 0 in seeds=[0, 1, 0]"),
        ({"ks": [0, 1, 1]}, XitConfigError, "ks lists k=1 more than once"),
        ({"ks": [0, -1]}, XitConfigError, "ks must hold non-negative integers; -1 is not one"),
        ({"eval": {"targets": ["tatoeba"], "tatoeba_languages": ["deu", "klingon"]}}, XitConfigError,
         "unknown Tatoeba language code 'klingon'"),
        ({"eval": {"targets": ["tatoeba"], "tatoeba_langs": ["deu"]}}, XitConfigError, "unknown field 'tatoeba_langs'"),
        ({"eval": {"targets": ["bucc"], "bucc_languages": ["de"]}}, DataNotFoundError, "BUCC de-en dev"),
        ({"train": {"max_step": 2}}, XitConfigError, "unknown field 'max_step' in train. Did you mean 'max_steps'?"),
        ({"train": {"seed": 3}}, XitConfigError, "train.seed is set by the grid for each run"),
        ({"train": {"max_train_examples": {"wnli": 5}}}, XitConfigError, "names task 'wnli', which is not in train.tasks"),
        ({"backend": "ray"}, XitConfigError, "backend='ray' is not valid"),
        ({"retrieval_notebook": "notebooks/nope.ipynb"}, XitConfigError, "retrieval_notebook='notebooks/nope.ipynb': notebook not found"),
        ({"pool": ["rte", "mnli"], "train": {"max_steps": 2}}, DataNotFoundError, "task 'mnli' has no offline data"),
    ],
)
def test_invalid_grids_fail_before_any_run(tmp_path, data_dir, fields, error, message):
    config = fixture_grid(tmp_path, **fields)
    with pytest.raises(error) as caught:
        resolve_grid(config)
    assert message in str(caught.value)
    assert not (tmp_path / "out").exists()  # nothing was run or written


def test_unknown_grid_field_and_missing_ks(tmp_path):
    with pytest.raises(XitConfigError, match="unknown field 'seed' in grid. Did you mean 'seeds'"):
        GridConfig.from_dict({"ks": [0], "seed": 1})
    with pytest.raises(XitConfigError, match="needs 'designs' .* or, for an old-style grid, 'ks'"):
        GridConfig.from_dict({"pool": "paper9"})


def test_paper_grid_names_what_it_needs_online(data_dir):
    config = GridConfig.from_yaml(REPO / "params" / "paper.yaml")
    assert config.model == "FacebookAI/xlm-roberta-large" and config.eval["layers"] == [14]
    assert config.train["learning_rate"] == 1e-5 and config.train["max_length"] == 256
    with pytest.raises(DataNotFoundError, match="task 'mnli' has no offline data"):
        resolve_grid(config)  # offline: MNLI/QQP only exist on the hub
