"""The committed DAG is what `kedro airflow create` writes now, and Airflow 3 imports it with the data order,
the schedule, the retries, the timeouts, the params, the sensor, the callbacks and the deadline alert."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kedro.framework.project import configure_project, pipelines

from sellout.config.airflow import validate_airflow_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = PROJECT_ROOT / "airflow" / "dags" / "sellout_dag.py"
AIRFLOW_YML = PROJECT_ROOT / "conf" / "base" / "airflow.yml"
BIN = Path(sys.executable).parent
SENSOR = "wait-for-week-files"
# The order the data needs, by node: in each chain, each node's task must be upstream of the next one's.
NODE_CHAINS = [
    ["plan_ingestion", "summarize_ingestion", "dbt_run", "dbt_test", "build_model_panel"],
    [
        "build_model_panel",
        "build_model_features",
        "train_forecast_model",
        "write_forecasts",
        "refresh_tableau",
    ],
    ["train_forecast_model", "quality_gate", "refresh_tableau", "notify_run_end"],
]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "KEDRO_DISABLE_TELEMETRY": "1",
    }
    for name in ("PYTHONPATH", "SELLOUT_PROJECT_ROOT"):  # the DAG must not need them
        env.pop(name, None)
    return env


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
from airflow.serialization.serialized_objects import DagSerialization
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("sellout")
report = {"import_errors": {k: v[-500:] for k, v in bag.import_errors.items()}, "dag_ids": sorted(bag.dags)}
if dag:
    DagSerialization.serialize_dag(dag)  # what the dag-processor stores must serialise
    report.update({
        "tasks": {t.task_id: {
            "retries": t.retries,
            "backoff": t.retry_exponential_backoff,
            "timeout_s": t.execution_timeout.total_seconds() if t.execution_timeout else None,
            "type": type(t).__name__,
        } for t in dag.tasks},
        "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids),
        "schedule": dag.timetable.expression,
        "timezone": str(dag.timetable.timezone.name),
        "params": {k: dag.params[k] for k in dag.params.keys()},
        "callbacks": [bool(dag.on_success_callback), bool(dag.on_failure_callback)],
        "deadline": [
            {"interval_s": d.interval.total_seconds(), "callback": d.callback.path,
             "reference": type(d.reference).__name__}
            for d in dag.deadline or []
        ],
        "sensor": {
            "deferrable": dag.task_dict["wait-for-week-files"].deferrable,
            "timeout_s": float(dag.task_dict["wait-for-week-files"].timeout),
            "poke_s": float(dag.task_dict["wait-for-week-files"].poke_interval),
        },
        "dagrun_timeout_s": dag.dagrun_timeout.total_seconds(),
    })
print(json.dumps(report, default=str))
"""


@pytest.fixture(scope="module")
def dag_report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("dag_import")
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, str(DAG_FILE.parent)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # the DAG must not depend on the worker's current directory
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def airflow_settings():
    return yaml.safe_load(AIRFLOW_YML.read_text())["default"]


def _task_of_node() -> dict[str, str]:
    """Node name -> task id, read from the committed DAG file."""
    mapping = {}
    pattern = re.compile(r'task_id="([^"]+)",[^@]*?run_kedro_nodes\(\s*\[([^\]]*)\]', re.DOTALL)
    for task_id, nodes in pattern.findall(DAG_FILE.read_text()):
        for node in re.findall(r'"([^"]+)"', nodes):
            mapping[node] = task_id
    return mapping


def _reachable(edges: set[tuple[str, str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        for upstream, downstream in edges:
            if upstream == current and downstream not in seen:
                seen.add(downstream)
                todo.append(downstream)
    return seen


def test_airflow_imports_the_dag_with_the_data_order(dag_report):
    assert dag_report["import_errors"] == {}
    assert dag_report["dag_ids"] == ["sellout"]
    edges = {tuple(edge) for edge in dag_report["edges"]}
    task_of = _task_of_node()
    assert {node for chain in NODE_CHAINS for node in chain} <= set(task_of), task_of
    for chain in NODE_CHAINS:
        tasks = [task_of[node] for node in chain]
        for upstream, downstream in zip(tasks, tasks[1:], strict=False):
            if upstream != downstream:
                assert downstream in _reachable(edges, upstream), f"{upstream} must run before {downstream}"
    # The sensor comes first; a failed dbt test stops everything after it.
    assert set(dag_report["tasks"]) - {SENSOR} <= _reachable(edges, SENSOR)
    after_dbt_test = _reachable(edges, task_of["dbt_test"])
    stopped = {task_of[n] for n in task_of if n not in {"plan_ingestion", "parse_new_files"}} - {
        task_of["summarize_ingestion"],
        task_of["dbt_run"],
        task_of["dbt_test"],
    }
    assert stopped <= after_dbt_test


def test_schedule_params_and_callbacks(dag_report, airflow_settings):
    assert dag_report["schedule"] == airflow_settings["schedule"] == "0 7 * * 1"
    assert dag_report["timezone"] == airflow_settings["timezone"]
    params = dag_report["params"]
    assert sorted(params) == ["backfill_from", "backfill_to", "dry_run", "mode", "wait_for_files"]
    assert params["mode"] == "incremental" and params["dry_run"] is False
    assert dag_report["callbacks"] == [True, True]
    assert dag_report["dagrun_timeout_s"] == airflow_settings["dagrun_timeout_hours"] * 3600
    (deadline,) = dag_report["deadline"]
    assert deadline["callback"] == "sellout.ops.airflow_support.forecast_late"
    assert deadline["interval_s"] == airflow_settings["forecast_deadline_hours"] * 3600


def test_retries_timeouts_and_sensor_follow_the_task_kinds(dag_report, airflow_settings):
    tasks = dag_report["tasks"]
    policies = airflow_settings["task_policies"]
    task_of = _task_of_node()
    assert all(task["timeout_s"] for task in tasks.values()), tasks
    assert tasks[task_of["refresh_tableau"]]["retries"] == 0  # a retry would start a second refresh
    assert tasks[task_of["dbt_test"]]["retries"] == policies["dbt_test"]["retries"] == 0
    ingestion = tasks[task_of["plan_ingestion"]]
    assert ingestion["retries"] == policies["ingestion"]["retries"] > 0
    assert ingestion["backoff"] > 0
    assert ingestion["timeout_s"] == policies["ingestion"]["execution_timeout_minutes"] * 60
    assert tasks[task_of["train_forecast_model"]]["retries"] == policies["compute"]["retries"]
    sensor = dag_report["sensor"]
    assert tasks[SENSOR]["type"] == "WeekFilesSensor"
    assert sensor["deferrable"] is True
    assert sensor["timeout_s"] == airflow_settings["sensor"]["timeout_hours"] * 3600
    assert sensor["poke_s"] == airflow_settings["sensor"]["poke_interval_minutes"] * 60


def test_airflow_yml_is_valid_and_gives_every_node_a_kind():

    configure_project("sellout")
    raw = yaml.safe_load(AIRFLOW_YML.read_text())
    node_names = [node.name for node in pipelines["__default__"].nodes]
    config = validate_airflow_config(raw, node_names)
    assert config.default.task_policies["tableau"].retries == 0
