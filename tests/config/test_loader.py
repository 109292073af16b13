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
