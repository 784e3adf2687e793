"""Budgets, designs (factorial, nested, dose), run kinds and controls, primary endpoint: expansion only (no notebook)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xit.errors import XitConfigError
from xit.grid import GridConfig, RUN_KINDS, RunKind, expand_design, expand_runs, resolve_grid
from xit.grid.budget import Budget
from xit.grid.execute import chains
from xit.training.sampling import TaskBatches, balanced_task_for_step, task_seed

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "notebooks"
ENDPOINT = {"target": "tatoeba", "direction": "xx->en", "layer": -1, "metric": "accuracy"}


def design_grid(tmp_path: Path, **fields) -> GridConfig:
    """A new-style grid over three offline tasks (fixture notebooks; nothing is executed here)."""
    base = dict(
        pool=["rte", "mrpc", "cola"],
        seeds=[0],
        budget={"policy": "total", "steps": 6},
        designs=[{"kind": "factorial", "pool": ["rte", "mrpc"], "budgets": ["total", "per_task"]}],
        train={"max_train_examples": 40},
        eval={"targets": ["tatoeba"], "tatoeba_languages": ["deu", "fra"], "tatoeba_max_sentences": 20, "layers": [-1, 6]},
        primary_endpoint=ENDPOINT,
        output_dir=str(tmp_path / "out"),
        training_notebook=str(FIXTURES / "fixture_training.ipynb"),
        retrieval_notebook=str(FIXTURES / "fixture_retrieval.ipynb"),
    )
    base.update(fields)
    return GridConfig.from_dict(base)


def by_tasks(runs, kind="task", policy=None):
    """Runs of one kind (and budget policy) keyed by their '+'-joined tasks."""
    return {r.tasks_label: r for r in runs if r.kind == kind and (policy is None or r.budget_policy == policy)}


# ------------------------------------------------------------------ budgets

def test_budget_arms_set_max_steps_per_k():
    assert Budget("total", steps=60).recipe(3) == {"max_steps": 60}
    assert Budget("per_task", steps=20).recipe(3) == {"max_steps": 60}
    assert Budget("per_task", steps=20).steps_per_task(3) == 20 and Budget("total", steps=60).steps_per_task(4) == 15
    assert Budget("epochs", epochs=2.0).recipe(3) == {"max_steps": None, "epochs": 2.0}
    assert Budget("epochs", epochs=2.0).total_steps(3) is None
    assert Budget("total", steps=5).scaled(0.5) == Budget("total", steps=2)  # round half to even, at least 1
    assert Budget("per_task", steps=8).scaled(2) == Budget("per_task", steps=16)


def test_factorial_runs_both_arms_and_k1_arms_share_a_run(tmp_path, data_dir):
    runs, design = expand_design(resolve_grid(design_grid(tmp_path)))
    # 2^2 − 1 = 3 subsets × 2 arms, minus the k = 1 per_task runs (same steps as total) + the baseline.
    assert len(runs) == 1 + 3 + 1
    assert [r.kind for r in runs][0] == "none" and runs[0].budget_policy is None and runs[0].total_steps is None
    total, per_task = by_tasks(runs, policy="total"), by_tasks(runs, policy="per_task")
    assert sorted(total) == ["mrpc", "mrpc+rte", "rte"] and sorted(per_task) == ["mrpc+rte"]
    assert total["mrpc+rte"].train["max_steps"] == 6 and per_task["mrpc+rte"].train["max_steps"] == 12
    assert (total["mrpc+rte"].steps_per_task, per_task["mrpc+rte"].steps_per_task) == (3.0, 6.0)
    assert total["rte"].train["sampler"] == {"name": "balanced"}  # the default sampler of new designs
    # The design table records both arms' memberships of the shared k = 1 runs.
    rows = design[design["tasks"] == "rte"]
    assert sorted(rows["budget_policy"]) == ["per_task", "total"] and rows["run_id"].nunique() == 1
    assert len(design[design["design"] == "factorial"]) == 6 and set(design["design"]) == {"baseline", "factorial"}


def test_old_grid_max_steps_is_the_total_policy(tmp_path, data_dir):
    old = dict(ks=[0, 1, 2], designs=None, budget=None, primary_endpoint=None, train={"max_steps": 6, "max_train_examples": 40})
    runs = expand_runs(resolve_grid(design_grid(tmp_path, **old)))
    assert {r.budget_policy for r in runs if r.k} == {"total"} and {r.total_steps for r in runs if r.k} == {6}
    assert all(r.train["max_steps"] == 6 and "sampler" not in r.train for r in runs if r.k)  # sampler default unchanged
    new = design_grid(tmp_path, designs=[{"kind": "balanced", "ks": [0, 1, 2]}], train={"max_train_examples": 40,
                                                                                        "sampler": "temperature"})
    assert [r.run_id for r in expand_runs(resolve_grid(new))] == [r.run_id for r in runs]  # same runs, same ids
    epochs = expand_runs(resolve_grid(design_grid(tmp_path, **{**old, "train": {"epochs": 2}})))
    assert {(r.budget_policy, r.total_steps, r.train["epochs"]) for r in epochs if r.k} == {("epochs", None, 2.0)}


def test_nested_orders_are_prefixes_and_seeded(tmp_path, data_dir):
    nested = {"kind": "nested", "orders": 3, "ks": [0, 1, 2, 3], "budgets": ["per_task"]}
    grid = resolve_grid(design_grid(tmp_path, designs=[nested]))
    runs, design = expand_design(grid)
    rows = design[design["design"] == "nested"].sort_values(["order", "position"])
    assert sorted(rows["order"].unique()) == [0, 1, 2] and list(rows[rows["order"] == 0]["position"]) == [0, 1, 2, 3]
    for _, order in rows.groupby("order"):
        sets = [set(t.split("+")) - {""} for t in order["tasks"]]
        assert all(a < b for a, b in zip(sets, sets[1:]))  # each position adds one task: a paired comparison
        assert list(order["total_steps"].fillna(0)) == [0, 6, 12, 18]
    again = expand_design(resolve_grid(design_grid(tmp_path, designs=[nested])))[1]
    pd.testing.assert_frame_equal(again, design)
    other = expand_design(resolve_grid(design_grid(tmp_path, designs=[nested], design_seed=5)))[1]
    assert list(other["tasks"]) != list(design["tasks"])
    assert len(runs) == len(set(design["run_id"]))  # every run once, whatever its memberships


def test_dose_scales_the_arm_and_controls_are_kinds(tmp_path, data_dir):
    designs = [{"kind": "dose", "subsets": ["singletons", "full"], "scales": [0.5, 1, 2]}]
    controls = [{"kind": "interpolation", "subsets": ["full", ["rte"]], "alphas": [0.25, 0.5]}]
    runs, design = expand_design(resolve_grid(design_grid(tmp_path, designs=designs, controls=controls)))
    dose = design[design["design"] == "dose"]
    assert len(dose) == 4 * 3 and sorted(set(dose["total_steps"])) == [3, 6, 12]
    assert set(dose.loc[dose["scale"] == 2, "total_steps"]) == {12}
    interp = [r for r in runs if r.kind == "interpolation"]
    assert sorted((r.tasks_label, r.alpha) for r in interp) == [("cola+mrpc+rte", 0.25), ("cola+mrpc+rte", 0.5),
                                                                  ("rte", 0.25), ("rte", 0.5)]
    sources = by_tasks([r for r in runs if r.total_steps == 6])
    for r in interp:  # evaluation only: the encoder of the same (tasks, seed, recipe), trained by the task run
        assert r.encoder_key == sources[r.tasks_label].encoder_key and r.train == sources[r.tasks_label].train
        assert not r.trains_own_recipe and r.total_steps == 6
    assert len({r.run_id for r in interp}) == 4
    # Interpolations run after their source, in the same chain; other runs are chains of one.
    grouped = {tuple(r.kind for r in c) for c in chains(runs) if len(c) > 1}
    assert grouped == {("task", "interpolation", "interpolation")}
    assert pd.isna(design.loc[design["kind"] != "interpolation", "alpha"]).all()


def test_a_block_may_run_its_own_seeds_and_ids_do_not_change(tmp_path, data_dir):
    nested = {"kind": "nested", "orders": 2, "ks": [1, 2], "budgets": ["per_task"], "seeds": [0]}
    both = expand_design(resolve_grid(design_grid(tmp_path, seeds=[0, 1], designs=[nested])))[0]
    alone = expand_design(resolve_grid(design_grid(tmp_path, seeds=[0, 1], designs=[{**nested, "seeds": [0, 1]}])))[0]
    assert {r.seed for r in both if r.k} == {0} and {r.seed for r in alone if r.k} == {0, 1}
    assert {r.run_id for r in both} == {r.run_id for r in alone if r.seed in (None, 0)}  # the seed-0 runs, same ids
    factorial = {"kind": "factorial", "pool": ["rte", "mrpc"], "budgets": ["total"]}
    runs, design = expand_design(resolve_grid(design_grid(tmp_path, seeds=[0, 1], designs=[factorial, nested])))
    # The grid's seeds still apply to blocks without seeds:; a run in both blocks is listed once.
    assert sorted((r.tasks_label, r.seed) for r in runs if r.budget_policy == "total") == [
        ("mrpc", 0), ("mrpc", 1), ("mrpc+rte", 0), ("mrpc+rte", 1), ("rte", 0), ("rte", 1)]
    assert set(design.loc[design["design"] == "nested", "seed"].dropna()) == {0}
    extra = expand_design(resolve_grid(design_grid(tmp_path, seeds=[0], designs=[{**nested, "seeds": [3]}])))[0]
    assert {r.seed for r in extra if r.k} == {3}


def test_a_kind_is_a_recipe_override_and_a_label(tmp_path, data_dir, monkeypatch):
    # What the coordinator does to add a kind (e.g. mlm): one RunKind entry; here a stand-in on an existing field.
    kinds = {**RUN_KINDS, "slow_lr": RunKind("slow_lr", params=("factor",), override=lambda p: {"learning_rate": 2e-5 * p["factor"]},
                                             check=lambda block, where: {"factor": block["factor"]})}
    monkeypatch.setattr("xit.grid.kinds.RUN_KINDS", kinds)
    monkeypatch.setattr("xit.grid.kinds.CONTROL_KINDS", ("shuffled_labels", "l2sp", "interpolation", "slow_lr"))
    monkeypatch.setattr("xit.grid.plan.CONTROL_KINDS", ("shuffled_labels", "l2sp", "interpolation", "slow_lr"))
    controls = [{"kind": "slow_lr", "subsets": ["singletons"], "factor": 0.5}]
    runs, design = expand_design(resolve_grid(design_grid(tmp_path, controls=controls)))
    slow, plain = by_tasks(runs, "slow_lr"), by_tasks(runs, policy="total")
    assert sorted(slow) == ["cola", "mrpc", "rte"] and slow["rte"].train["learning_rate"] == 1e-5
    assert slow["rte"].run_id != plain["rte"].run_id and slow["rte"].encoder_key != plain["rte"].encoder_key
    assert set(design.loc[design["kind"] == "slow_lr", "design"]) == {"slow_lr"}


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"primary_endpoint": None}, "a grid with designs: needs primary_endpoint:"),
        ({"primary_endpoint": {**ENDPOINT, "target": "bucc"}}, "primary_endpoint.target='bucc' is not evaluated by this grid"),
        ({"primary_endpoint": {**ENDPOINT, "layer": 3}}, "primary_endpoint.layer=3 is not among eval.layers=[-1, 6]"),
        ({"ks": [0, 1]}, "has both ks: and designs:"),
        ({"train": {"max_steps": 5}}, "train.max_steps is set per run by the grid's budget:"),
        ({"budget": {"policy": "total"}}, "budget.steps=None must be a positive integer"),
        ({"budget": {"policy": "per_tsk", "steps": 3}}, "budget.policy='per_tsk' is not valid"),
        ({"designs": [{"kind": "factorial", "pool": ["rte", "qnli"]}]}, "names task 'qnli', which is not in the grid's pool"),
        ({"designs": [{"kind": "factorail"}]}, "designs[0].kind='factorail' is not valid. Did you mean 'factorial'?"),
        ({"designs": [{"kind": "dose", "subsets": ["full"], "scales": [1, 0]}]}, "designs[0].scales holds 0"),
        ({"designs": [{"kind": "nested", "ks": [1, 4]}]}, "designs[0].ks has k=4, larger than its pool (3 tasks)"),
        ({"designs": [{"kind": "nested", "order": 2}]}, "designs[0] (kind nested) has unknown field 'order'"),
        ({"designs": [{"kind": "factorial"}, {"kind": "factorial", "pool": ["rte"]}]}, "designs[1].name='factorial' is taken"),
        ({"controls": [{"kind": "interpolation", "subsets": ["full"], "alphas": [1.5]}]}, "each alpha must be a number in [0, 1]"),
        ({"controls": [{"kind": "l2sp", "subsets": ["full"]}]}, "needs coefficient:"),
        ({"controls": [{"kind": "interpolation", "subsets": ["al"], "alphas": [0.5]}]}, "entry 'al' is not a subset"),
        ({"designs": [{"kind": "factorial", "seeds": [0, 0]}]}, "designs[0].seeds lists seed=0 more than once"),
        ({"designs": [{"kind": "factorial", "seeds": [-1]}]}, "designs[0].seeds must hold non-negative integers"),
    ],
)
def test_invalid_designs_fail_before_any_run(tmp_path, data_dir, fields, message):
    with pytest.raises(XitConfigError) as caught:
        resolve_grid(design_grid(tmp_path, **fields))
    assert message in str(caught.value)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ sampler and data order

def test_balanced_sampler_gives_each_task_its_share_in_a_name_seeded_order():
    names = ["rte", "ud_pos", "cola"]
    for total in (1, 7, 60, 61, 62):
        draws = [balanced_task_for_step(names, 0, s) for s in range(total)]
        counts = [draws.count(t) for t in names]
        assert max(counts) - min(counts) <= 1 and sum(counts) == total
        assert set(counts) <= {total // 3, -(-total // 3)}
    # Depends on the seed and the task names only, not on the order they are listed in.
    assert [balanced_task_for_step(names, 3, s) for s in range(30)] == [balanced_task_for_step(names[::-1], 3, s) for s in range(30)]
    assert [balanced_task_for_step(names, 3, s) for s in range(30)] != [balanced_task_for_step(names, 4, s) for s in range(30)]


def test_a_task_sees_the_same_batches_in_any_subset():
    lengths = {"rte": list(np.random.default_rng(0).integers(5, 60, 100)), "ud_pos": list(range(3, 90))}
    alone = TaskBatches(lengths["ud_pos"], 8, seed=task_seed(0, "ud_pos"))
    # Position 0 alone, position 1 after rte: the seed is a function of (seed, name), so the batches agree.
    in_pair = {t: TaskBatches(lengths[t], 8, seed=task_seed(0, t)) for t in ("rte", "ud_pos")}
    assert [alone.next() for _ in range(15)] == [in_pair["ud_pos"].next() for _ in range(15)]
    assert task_seed(0, "rte") != task_seed(0, "ud_pos") and task_seed(0, "rte") != task_seed(1, "rte")
