"""The study's stages (pilot, MLM comparison) share their runs with the study: same recipe and evaluation, same ids."""

from __future__ import annotations

from pathlib import Path

from xit.grid import GridConfig, expand_design, resolve_grid

PARAMS = Path(__file__).resolve().parent.parent / "params"


def _runs(name: str) -> dict[str, tuple]:
    runs, _ = expand_design(resolve_grid(GridConfig.from_yaml(PARAMS / name)))
    return {r.run_id: (r.kind, r.tasks_label, r.seed, r.total_steps) for r in runs}


def test_the_pilots_first_two_seeds_are_study_runs(data_dir):
    pilot, study = _runs("study-pilot.yaml"), _runs("study.yaml")
    shared = set(pilot) & set(study)
    assert len(pilot) == 13 and len(study) == 122
    # The baseline and the four singletons at 60 steps with seeds 0 and 1; seed 2 is the pilot's own.
    assert sorted(pilot[r] for r in shared) == sorted(
        [("none", "", None, None)] + [("task", t, s, 60) for t in ("anli", "ccg", "hellaswag", "squad_v1") for s in (0, 1)])
    assert {pilot[r][2] for r in set(pilot) - shared} == {2}
    assert GridConfig.from_yaml(PARAMS / "study-pilot.yaml").output_dir == GridConfig.from_yaml(PARAMS / "study.yaml").output_dir


def test_the_mlm_stage_is_the_study_mlm_control_and_its_budget_matched_task_runs(data_dir):
    stage, study = _runs("study-mlm.yaml"), _runs("study.yaml")
    assert set(stage) <= set(study)  # every run of the stage is a study run, so the study skips it
    pool = "anli+ccg+hellaswag+squad_v1"
    assert sorted(v for v in stage.values() if v[0] != "none") == sorted(
        [("mlm", "anli", s, 60) for s in (0, 1)] + [("mlm", pool, s, 240) for s in (0, 1)]
        + [("task", pool, s, 240) for s in (0, 1)])
    # The MLM runs are all the study's MLM runs: each has task runs at its budget in the study (the singletons'
    # task runs at 60 steps are the pilot's).
    assert {r for r, v in study.items() if v[0] == "mlm"} == {r for r, v in stage.items() if v[0] == "mlm"}
    assert {("anli", 0, 60), ("anli", 1, 60)} <= {v[1:] for v in study.values() if v[0] == "task"}


def test_the_nested_arm_runs_one_seed_and_the_rest_two(data_dir):
    _, design = expand_design(resolve_grid(GridConfig.from_yaml(PARAMS / "study.yaml")))
    seeds = design.dropna(subset=["seed"]).groupby("design")["seed"].agg(lambda s: sorted(set(s)))
    assert seeds["nested"] == [0] and all(v == [0, 1] for k, v in seeds.items() if k != "nested")


def test_collect_gathers_the_finished_runs_of_a_grid_part_way_through(tmp_path, data_dir):
    import dataclasses
    import shutil

    import pandas as pd

    from xit.__main__ import main
    from xit.grid import collect_grid

    config = GridConfig.from_yaml(PARAMS / "study-pilot.yaml")
    finished = ["k0-aced35793f", "k1-9dc809f8ad"]  # the committed baseline and anli seed 0
    for run in finished:
        shutil.copytree(Path(config.output_dir) / "runs" / run, tmp_path / "runs" / run,
                        ignore=shutil.ignore_patterns("*.ipynb"))
    table, done, total = collect_grid(dataclasses.replace(config, output_dir=str(tmp_path)))
    assert (done, total) == (2, 13) and sorted(table["run_id"].unique()) == finished
    expected = pd.concat([pd.read_parquet(tmp_path / "runs" / r / "results.parquet") for r in finished], ignore_index=True)
    assert len(table) == len(expected) and table["value"].sum() == expected["value"].sum()
    assert (tmp_path / "grid.json").is_file() and (tmp_path / "design-study-pilot.parquet").is_file()
    assert set(pd.read_parquet(tmp_path / "dev_metrics.parquet")["run_id"]) == {"k1-9dc809f8ad"}
    bad = tmp_path / "bad.yaml"
    bad.write_text((PARAMS / "study-pilot.yaml").read_text().replace("seeds: [0, 1, 2]", "seeds: [0, 0]"))
    assert main(["collect", str(bad)]) == 2  # a bad grid file: a one-line error and exit code 2, no traceback


def test_every_committed_study_run_keeps_its_id_and_a_gpu_study_would_get_new_ones(data_dir):
    import dataclasses

    config = GridConfig.from_yaml(PARAMS / "study.yaml")
    cpu = {r.run_id for r in expand_design(resolve_grid(config))[0]}
    committed = {p.name for p in (Path(config.output_dir) / "runs").iterdir() if (p / "status.json").is_file()}
    pilot = set(_runs("study-pilot.yaml"))
    # The device field (cpu by default) left the ids of the runs already made as they were.
    assert committed - pilot <= cpu and len(committed & cpu) >= 34
    gpu = expand_design(resolve_grid(dataclasses.replace(config, device="cuda", scheduler="tcp://gpu-host:8786")))[0]
    assert len(gpu) == len(cpu) and cpu.isdisjoint(r.run_id for r in gpu)
    assert {r.device for r in gpu} == {"cuda"}
