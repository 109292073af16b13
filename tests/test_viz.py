"""`kedro viz build` works offline and shows the whole graph with every stage's pipeline."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_kedro_viz_build_shows_every_stage(tmp_path):
    # kedro viz build writes build/ into the project root; the test moves it out so that it leaves nothing behind.
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    built = PROJECT_ROOT / "build"
    shutil.rmtree(built, ignore_errors=True)
    subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "viz", "build", "--include-previews"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    shutil.move(built, tmp_path / "build")
    graph = json.loads((tmp_path / "build" / "api" / "main").read_text())
    tasks = {node["name"] for node in graph["nodes"] if node["type"] == "task"}
    assert {
        "plan_ingestion",
        "dbt_run",
        "dbt_test",
        "build_model_panel",
        "write_forecasts",
        "refresh_tableau",
    } <= tasks
    stages = {"ingestion", "transform", "preprocessing", "features", "forecasting", "publish"}
    assert stages <= {tag["id"] for tag in graph["tags"]}  # each stage is a tag kedro-viz filters by
    by_name = {node["name"]: node for node in graph["nodes"] if node["type"] == "task"}
    assert (
        "ingestion" in by_name["plan_ingestion"]["tags"] and "publish" in by_name["refresh_tableau"]["tags"]
    )
    assert {"raw", "intermediate", "primary", "reporting"} <= set(graph["layers"])  # the catalog's layers
    datasets = {node["name"]: node for node in graph["nodes"] if node["type"] == "data"}
    assert datasets["landing_files"]["layer"] == "raw" and datasets["sellout_weekly"]["layer"] == "primary"
    pipelines = {pipeline["id"] for pipeline in graph["pipelines"]}
    assert {"ingestion", "transform", "preprocessing", "features", "forecasting", "publish"} <= pipelines
    assert (tmp_path / "build" / "index.html").exists()
    # the charts keep kedro-viz's chart view (the project's own atomic Plotly dataset)
    chart = json.loads((tmp_path / "build" / "api" / "nodes" / datasets["forecast_chart"]["id"]).read_text())
    assert chart["preview_type"] == "PlotlyPreview"
