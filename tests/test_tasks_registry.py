"""Registry, pools, task table and the errors that must come before any compute."""

from __future__ import annotations

import pytest

from xit.errors import DataNotFoundError, XitConfigError
from xit.tasks import HEAD_NAMES, get_task, list_tasks, load_task_split, require_local, resolve_pool, task_table
from xit.tasks.registry import PAPER9


def test_registry_has_19_tasks_six_heads():
    names = list_tasks()
    assert len(names) == 19
    assert names[:9] == list(PAPER9)
    assert {get_task(n).head for n in names} == set(HEAD_NAMES)


def test_pools():
    assert resolve_pool("paper9") == list(PAPER9)
    assert resolve_pool("paper-offline") == ["anli", "squad_v1", "squad_v2", "hellaswag", "cosmosqa", "commonsenseqa", "ccg"]
    offline = resolve_pool("all-offline")
    assert len(offline) == 17 and "mnli" not in offline and "qqp" not in offline
    assert resolve_pool(["rte", "stsb"]) == ["rte", "stsb"]


def test_unknown_task_lists_known_ones():
    with pytest.raises(XitConfigError, match=r"unknown task 'squad_v3'.*Did you mean 'squad_v2', 'squad_v1'.*Known tasks: anli, mnli"):
        get_task("squad_v3")
    with pytest.raises(XitConfigError, match="unknown task 'nope'"):
        resolve_pool(["rte", "nope"])


def test_unknown_pool_lists_known_pools():
    with pytest.raises(XitConfigError, match="unknown task pool 'all'.*Known pools: paper9, paper-offline, all-offline"):
        resolve_pool("all")
    with pytest.raises(XitConfigError, match="rte more than once"):
        resolve_pool(["rte", "rte"])


def test_mnli_offline_names_task_place_and_fix(data_dir):
    with pytest.raises(DataNotFoundError) as err:
        load_task_split("mnli", "train", source="local", data_dir=data_dir)
    msg = str(err.value)
    assert "'mnli' has no offline data" in msg and str(data_dir) in msg
    assert "nyu-mll/glue" in msg and "source='hub'" in msg


def test_missing_local_files_name_paths_and_env(tmp_path):
    with pytest.raises(DataNotFoundError, match=rf"task 'rte': local data not found; xit looked for {tmp_path}/tasks-extra/rte/dev.tsv.*XIT_DATA_DIR"):
        require_local(get_task("rte"), tmp_path)
    with pytest.raises(DataNotFoundError, match="task 'ccg'.*no hub copy"):
        require_local(get_task("ccg"), tmp_path)


def test_bad_split_source_and_cap(data_dir):
    with pytest.raises(XitConfigError, match="split='test' is not valid"):
        load_task_split("rte", "test", data_dir=data_dir)
    with pytest.raises(XitConfigError, match="source='web' is not valid"):
        load_task_split("rte", "train", source="web", data_dir=data_dir)
    with pytest.raises(XitConfigError, match="max_examples=0"):
        load_task_split("rte", "train", max_examples=0, data_dir=data_dir)


def test_task_table(data_dir):
    df = task_table(data_dir)
    assert len(df) == 19 and int(df["offline"].sum()) == 17
    row = df.set_index("name")
    assert (row.loc["mrpc", "train"], row.loc["mrpc", "dev"]) == (3668, 408)
    assert row.loc["mnli", "offline"] == False  # noqa: E712 - numpy bool
    assert "[non-commercial]" in row.loc["wic", "license"] and "[non-commercial]" in row.loc["anli", "license"]
    assert "[non-commercial]" not in row.loc["squad_v1", "license"]
    assert row.loc["hellaswag", "hub_id"] == "Rowan/hellaswag"


def test_spec_metadata():
    assert get_task("anli").offline_name.startswith("ANLI+ (ANLI R1-R3 + SNLI")
    assert get_task("ccg").labels[-1] == "<unk>" and len(get_task("ccg").labels) == 295
    assert get_task("commonsenseqa").num_labels == 5
    assert get_task("stsb").num_labels == 1
    assert get_task("wnut17").num_labels == 13


def test_pool_data_check_before_compute(data_dir, monkeypatch):
    from xit.tasks import require_task_data

    require_task_data(resolve_pool("all-offline"), source="local", data_dir=data_dir)  # all 17 present
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match="task 'mnli' has no offline data"):
        require_task_data(resolve_pool("paper9"), source="auto", data_dir=data_dir)
    with pytest.raises(DataNotFoundError, match="task 'ccg' has no hub copy"):
        require_task_data(["ccg"], source="hub", data_dir=data_dir)
