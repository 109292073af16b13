"""Every notebook in notebooks/ runs top to bottom on the latest run of a fresh flow (so it never rots).

The flow runs on generated sample data in a throw-away database and data folder; the notebook's kernel is this
interpreter (.venv), registered in a temporary Jupyter path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from sellout.api import run_pipeline
from sellout.sample_data import generate

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "sellout-venv"


@pytest.fixture
def latest_run(tmp_path, isolated_project, monkeypatch):
    monkeypatch.delenv("SELLOUT_ENV", raising=False)
    generate(isolated_project["landing"], weeks=60)
    summary = run_pipeline("__default__", mode="full", env="local", project_path=PROJECT_ROOT)
    assert summary.status == "succeeded"
    kernel_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    kernel_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps({**spec, "display_name": "sellout .venv"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_on_the_latest_run(path, latest_run):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert f"run {latest_run.run_id}: gate" in text
    assert not [o for o in outputs if o.get("output_type") == "error"]


def test_there_is_a_notebook():
    assert NOTEBOOKS, "notebooks/ has no notebook"
