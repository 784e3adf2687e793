"""The study's pilot shares its runs with the study: same recipe and evaluation, so the same run ids."""

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
    assert len(pilot) == 13 and len(study) == 137
    # The baseline and the four singletons at 60 steps with seeds 0 and 1; seed 2 is the pilot's own.
    assert sorted(pilot[r] for r in shared) == sorted(
        [("none", "", None, None)] + [("task", t, s, 60) for t in ("anli", "ccg", "hellaswag", "squad_v1") for s in (0, 1)])
    assert {pilot[r][2] for r in set(pilot) - shared} == {2}
    assert GridConfig.from_yaml(PARAMS / "study-pilot.yaml").output_dir == GridConfig.from_yaml(PARAMS / "study.yaml").output_dir
