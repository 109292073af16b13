"""The committed DAG is what `kedro airflow create` writes now, and Airflow 3 imports it without error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = PROJECT_ROOT / "airflow" / "dags" / "sellout_dag.py"
BIN = Path(sys.executable).parent


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "KEDRO_DISABLE_TELEMETRY": "1",
    }


def test_committed_dag_matches_what_kedro_airflow_writes(tmp_path):
    subprocess.run(
        [
            str(BIN / "kedro"),
            "airflow",
            "create",
            "--target-dir",
            str(tmp_path / "dags"),
            "--jinja-file",
            "airflow/dag_template.j2",
            "--group-by",
            "memory",
        ],
        cwd=PROJECT_ROOT,
        env=_env(tmp_path),
        check=True,
        capture_output=True,
    )
    fresh = (tmp_path / "dags" / "sellout_dag.py").read_text()
    assert DAG_FILE.read_text() == fresh, "airflow/dags/sellout_dag.py is stale: run `make dag` and commit it"


IMPORT_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("sellout")
print(json.dumps({
    "import_errors": {k: v[-500:] for k, v in bag.import_errors.items()},
    "dag_ids": sorted(bag.dags),
    "tasks": sorted(dag.task_ids) if dag else [],
    "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids) if dag else [],
    "schedule": dag.timetable.expression if dag else None,
    "params": sorted(dag.params.keys()) if dag else [],
    "retries": sorted({t.retries for t in dag.tasks}) if dag else [],
}))
"""


def test_airflow_imports_the_dag_with_the_data_order(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, str(DAG_FILE.parent)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # the DAG must not depend on the worker's current directory
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["import_errors"] == {}
    assert report["dag_ids"] == ["sellout"]
    edges = {tuple(edge) for edge in report["edges"]}
    order = [
        "plan-ingestion-load-new-files",
        "summarize-ingestion",
        "dbt-run",
        "dbt-test",
        "build-model-panel",
    ]
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert (upstream, downstream) in edges
    assert {"refresh-tableau", "notify-run-end"} <= set(report["tasks"])
    assert report["params"] == ["dry_run", "mode"]
    assert report["retries"] == [0]
    assert report["schedule"] == "0 7 * * 1"
