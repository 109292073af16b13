"""Kedro's own notebook habits work (the `jupyter` extra, installed by `make install`): `kedro ipython` gives the
project's catalog, `kedro jupyter lab` starts (its kernel spec loads kedro.ipython), and a notebook kernel from that
spec has `catalog`, `context`, `session` and `pipelines` (notebooks/README.md).

The commands run as a person runs them from the activated virtual environment (its bin/ first on PATH: Kedro calls
`ipython` and `jupyter` by name), from the project folder, with a throw-away Jupyter data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KERNEL = "kedro_sellout"


@pytest.fixture
def activated(tmp_path, monkeypatch):
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "KEDRO_DISABLE_TELEMETRY": "1",
        "COLUMNS": "200",
    }
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(name, env[name])
    return env


def _kedro(env, *args):
    return subprocess.run(
        [str(BIN / "kedro"), *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_kedro_ipython_gives_the_projects_catalog(activated):
    code = "print('CATALOG', 'model_panel' in catalog, 'forecasts' in catalog, sorted(pipelines)[0])"
    done = _kedro(activated, "ipython", "-c", code)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "CATALOG True True __default__" in done.stdout, done.stdout[-3000:]


def test_kedro_jupyter_lab_starts_with_a_kernel_that_loads_the_project(activated, tmp_path):
    done = _kedro(activated, "jupyter", "lab", "--version")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert done.stdout.strip().splitlines()[-1].split(".")[0] == "4"  # JupyterLab 4 answered

    spec = json.loads((tmp_path / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["argv"][-2:] == ["--ext", "kedro.ipython"]

    manager, client = start_new_kernel(kernel_name=KERNEL, cwd=str(PROJECT_ROOT), env=activated)
    try:
        lines: list[str] = []

        def collect(message):
            if message["msg_type"] == "stream":
                lines.append(message["content"]["text"])

        reply = client.execute_interactive(
            "print('KERNEL', type(catalog).__name__, context.project_path.name, 'sellout_weekly' in catalog)",
            output_hook=collect,
            timeout=300,
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", reply["content"]
    expected = f"{PROJECT_ROOT.name} True"
    assert any(
        line.startswith("KERNEL DataCatalog") and line.rstrip().endswith(expected) for line in lines
    ), lines
