"""The project's config loader."""

import shutil
from pathlib import Path

from sellout.config.loader import CONFIG_LOADER_ARGS, ProjectConfigLoader

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_a_loader_reads_its_own_globals_after_another_loader_was_made(tmp_path, monkeypatch):
    # Two projects' conf folders in one process (a run with --conf-source and a tool reading conf/): each loader's
    # ${globals:project_path} is its own, in whichever order they are made and read.
    elsewhere = tmp_path / "copy" / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", elsewhere, ignore=shutil.ignore_patterns("local"))
    monkeypatch.setenv("SELLOUT_DATA_DIR", str(tmp_path / "data"))
    ours = ProjectConfigLoader(
        str(elsewhere), env="base", runtime_params={"run_id": "r1"}, **CONFIG_LOADER_ARGS
    )
    theirs = ProjectConfigLoader(
        str(PROJECT_ROOT / "conf"), env="base", runtime_params={"run_id": "r2"}, **CONFIG_LOADER_ARGS
    )
    assert ours["catalog"]["sources"]["project_path"] == str(tmp_path / "copy")
    assert theirs["catalog"]["sources"]["project_path"] == str(PROJECT_ROOT)
    assert ours["catalog"]["sources"]["project_path"] == str(tmp_path / "copy")


def test_a_group_is_read_once_per_loader_and_every_caller_gets_its_own_copy(monkeypatch):
    reads: list[str] = []
    read_raw = ProjectConfigLoader._read_raw_config

    def counted(self, key):
        reads.append(key)
        return read_raw(self, key)

    monkeypatch.setattr(ProjectConfigLoader, "_read_raw_config", counted)
    loader = ProjectConfigLoader(
        str(PROJECT_ROOT / "conf"), env="base", runtime_params={"run_id": "r1"}, **CONFIG_LOADER_ARGS
    )
    first = loader["parameters"]
    first["forecasting"]["horizon"] = -1  # a caller changing its copy
    assert loader["parameters"]["forecasting"]["horizon"] > 0
    assert reads.count("parameters") == 1
    loader.runtime_params = {"run_id": "r2"}  # other runtime parameters: read again
    assert loader["parameters"] == loader["parameters"] and reads.count("parameters") == 2
