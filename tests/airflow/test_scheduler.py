"""The real scheduler runs the DAG (``make test-airflow``): Airflow's own services from the project's environment
(airflow/local_stack.py: api-server, scheduler, dag-processor, triggerer; a PostgreSQL metadata database on the
embedded server), the DAG triggered through the REST API with the data interval of a real week, on the
LocalExecutor and then on the CeleryExecutor with a Redis broker and two workers.

Each test waits on the API's states (the run's, then every task's), never on how long a step usually takes; the
overall timeout is only a safety net.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from conftest import OUTSIDE_SYSTEM_VARIABLES
from support.airflow_connections import connection_variables
from support.tableau_fake import FakeTableauServer
from support.webhook_sink import WebhookSink

from sellout.ops import lineage

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 1800  # a safety net for a broken run; a healthy one takes a few minutes

_spec = importlib.util.spec_from_file_location("local_stack", PROJECT_ROOT / "airflow" / "local_stack.py")
local_stack = importlib.util.module_from_spec(_spec)
sys.modules["local_stack"] = local_stack
_spec.loader.exec_module(local_stack)

pytestmark = pytest.mark.airflow_stack


@pytest.fixture
def stack_home(tmp_path):
    """A short path: the metadata database's Unix socket lives in it (socket paths are limited to ~100 bytes).
    The services' and tasks' logs are kept in the test's tmp_path."""
    home = Path(tempfile.mkdtemp(prefix="soaf", dir="/tmp"))
    yield home
    if (home / "logs").exists():
        shutil.copytree(home / "logs", tmp_path / "airflow-logs", dirs_exist_ok=True)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def week_files(tmp_path, db_url, monkeypatch):
    """The project's sample data (`sellout sample`) in a throw-away landing folder, data folder and database."""
    landing = tmp_path / "landing"
    subprocess.run(
        [str(BIN / "sellout"), "sample", "--landing", str(landing), "--weeks", "60"],
        check=True,
        capture_output=True,
    )
    for name in (*OUTSIDE_SYSTEM_VARIABLES, "SELLOUT_PROJECT_ROOT", "PYTHONPATH", "SELLOUT_KEDRO_ENV"):
        monkeypatch.delenv(name, raising=False)
    return {
        "SELLOUT_DB_URL": db_url,
        "SELLOUT_DATA_DIR": str(tmp_path / "data"),
        "SELLOUT_LANDING_DIR": str(landing),
        "DBT_TARGET_PATH": str(tmp_path / "dbt" / "target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt" / "logs"),
    }


class PeakMemory(threading.Thread):
    """The peak memory of each service with everything it started, as a container's limit counts it: the
    proportional set size (PSS, shared pages split among the processes that share them) of the service's process
    and its descendants -- the scheduler's and the Celery workers' include the task processes they supervise (which
    run in process groups of their own). A measurement for the runbook, never a condition of the test."""

    def __init__(self, stack) -> None:
        super().__init__(daemon=True)
        self.roots = {process.pid: name for name, process in stack.processes.items()}
        self.peak = dict.fromkeys(self.roots.values(), 0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            parents, pss = {}, {}
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    rollup = (entry / "smaps_rollup").read_text()
                except (OSError, ValueError, IndexError):
                    continue
                pss[int(entry.name)] = next(
                    (int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")),
                    0,
                )
            totals = dict.fromkeys(self.roots.values(), 0)
            for pid, size in pss.items():
                ancestor, hops = pid, 0
                while ancestor not in self.roots and ancestor in parents and hops < 64:
                    ancestor, hops = parents[ancestor], hops + 1
                if ancestor in self.roots:
                    totals[self.roots[ancestor]] += size
            self.peak = {name: max(self.peak[name], totals[name]) for name in self.peak}

    def describe(self) -> str:
        return ", ".join(f"{name} {value / 2**20:.0f} MiB" for name, value in self.peak.items())


def _task_log(stack, ti: dict) -> str:
    folder = (
        stack.logs
        / "tasks"
        / f"dag_id={ti['dag_id']}"
        / f"run_id={ti['dag_run_id']}"
        / f"task_id={ti['task_id']}"
    )
    return (
        "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(folder.glob("*.log"))) or "(no log)"
    )


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_the_scheduler_runs_the_dag_for_a_week(executor, week_files, stack_home, request):
    started = time.monotonic()
    with FakeTableauServer(datasources=[{"name": "sellout_forecasts"}]) as tableau, WebhookSink() as sink:
        env = {**week_files, **connection_variables(tableau, sink)}
        with local_stack.LocalStack(home=stack_home, executor=executor, workers=2, extra_env=env) as stack:
            up_s = time.monotonic() - started
            dag_tasks = {t["task_id"] for t in stack.api("GET", "/api/v2/dags/sellout/tasks").json()["tasks"]}
            if executor == "celery":
                workers = stack.celery_workers()
                assert len(workers) == 2 and all(w.startswith("sellout-w") for w in workers), workers

            # The latest week that is due (Monday 07:00 -> Monday 07:00, Europe/Berlin): the run the scheduler
            # would otherwise create by itself when the DAG is unpaused.
            week = local_stack.latest_week()
            memory = PeakMemory(stack)
            memory.start()
            triggered = time.monotonic()
            run = stack.trigger(week)
            start, end = local_stack.week_interval(week)
            assert run["state"] == "queued"
            assert datetime.fromisoformat(run["data_interval_start"]) == start
            assert datetime.fromisoformat(run["data_interval_end"]) == end
            run_id = run["dag_run_id"]

            finished = stack.wait_for_run(run_id, RUN_TIMEOUT_S)
            run_s = time.monotonic() - triggered
            memory.done.set()
            tis = stack.task_instances(run_id)
            states = {ti["task_id"]: ti["state"] for ti in tis}
            failed = [ti for ti in tis if ti["state"] != "success"]
            assert finished["state"] == "success", "\n\n".join(
                f"{ti['task_id']}: {ti['state']}\n{_task_log(stack, ti)}" for ti in failed
            )
            executors = {ti["executor"] or "(default)" for ti in tis}
            hosts = _celery_task_counts(stack) if executor == "celery" else {}
            runs = stack.api("GET", "/api/v2/dags/sellout/dagRuns").json()["dag_runs"]

        refresh_calls = tableau.calls("POST", r"/refresh$")
        events = [received.json for received in sink.received]

    # Every task of the DAG ran, under the scheduler, and succeeded; no other run was made.
    assert set(states) == dag_tasks and len(dag_tasks) >= 13, states
    assert [r["dag_run_id"] for r in runs] == [run_id], runs
    assert set(states.values()) == {"success"}, states
    assert run_id.startswith("manual__")

    # The run records, the manifest and the forecasts carry Airflow's run id, once.
    with psycopg.connect(week_files["SELLOUT_DB_URL"]) as conn:
        pipeline_runs = conn.execute("select run_id, status, sessions from ops.pipeline_runs").fetchall()
        node_runs = dict(
            conn.execute("select node, status from ops.node_runs where run_id = %s", (run_id,)).fetchall()
        )
        forecast_runs = conn.execute(
            "select run_id, count(*) from forecast.forecasts group by run_id"
        ).fetchall()
        manifest_runs = {r[0] for r in conn.execute("select distinct run_id from ops.ingested_files")}
        freshness = dict(
            conn.execute(
                "select unique_id, status from ops.dbt_results where run_id = %s and command = 'source freshness'",
                (run_id,),
            ).fetchall()
        )
    assert [(r[0], r[1]) for r in pipeline_runs] == [(run_id, "succeeded")], pipeline_runs
    # one Kedro session per task but the sensor and the freshness check
    assert pipeline_runs[0][2] == len(dag_tasks - {"wait-for-week-files", "dbt-source-freshness"})
    assert set(node_runs.values()) == {"succeeded"} and len(node_runs) >= 16, node_runs
    assert len(forecast_runs) == 1 and forecast_runs[0][0] == run_id and forecast_runs[0][1] > 0
    assert manifest_runs == {run_id}
    assert freshness == {
        "source.sellout.raw.sellout_lines": "pass",
        "source.sellout.ops.ingested_files": "pass",
    }

    refresh = json.loads(
        (Path(week_files["SELLOUT_DATA_DIR"]) / "08_reporting" / "tableau_refresh_status.json").read_text()
    )
    assert refresh["run_id"] == run_id and refresh["status"] == "succeeded", refresh
    assert len(refresh_calls) == 1
    run_end = [event for event in events if event.get("event") == "run_succeeded"]
    assert len(run_end) == 1 and run_end[0]["run_id"] == run_id, events

    # Lineage: every task's Kedro session reported under the one pipeline run of this DAG run, naming its task.
    events = [
        json.loads(line)
        for line in (Path(week_files["SELLOUT_DATA_DIR"]) / "09_lineage" / "openlineage.jsonl")
        .read_text()
        .splitlines()
    ]
    node_events = [
        e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] in _kedro_jobs(node_runs)
    ]
    assert {e["job"]["name"] for e in node_events} == _kedro_jobs(node_runs)
    assert {e["run"]["facets"]["parent"]["run"]["runId"] for e in node_events} == {
        lineage.pipeline_run_id("sellout", run_id)
    }
    airflow_tasks = {e["run"]["facets"]["sellout"]["airflow"]["task_id"] for e in node_events}
    assert airflow_tasks == dag_tasks - {"wait-for-week-files", "dbt-source-freshness"}
    assert any(e["job"]["name"] == "dbt.fct_sellout_weekly" for e in events)

    if executor == "celery":
        # Scale-out, exercised: every task went through the broker, and both workers ran tasks.
        assert sum(hosts.values()) == len(dag_tasks), hosts
        assert len(hosts) == 2 and min(hosts.values()) >= 1, hosts

    order = sorted(tis, key=lambda ti: ti["start_date"])
    request.config.airflow_measured.append(
        f"{executor}: stack up in {up_s:.0f} s, run {run_id} ({week}) {finished['state']} in {run_s:.0f} s, "
        f"{len(states)} tasks: "
        + ", ".join(f"{ti['task_id']}={ti['state']}" for ti in order)
        + f"; executor {sorted(executors)}"
        + (f"; tasks per worker {hosts}" if hosts else "")
        + f"; peak memory per service: {memory.describe()}"
    )


def _kedro_jobs(node_runs: dict[str, str]) -> set[str]:
    return {f"kedro.{node}" for node in node_runs}


def _celery_task_counts(stack) -> dict[str, int]:
    """How many task workloads each Celery worker received, from its own log (Celery logs each one it takes)."""
    counts = {}
    for number in (1, 2):
        lines = (stack.logs / f"worker-{number}.log").read_text(errors="replace").splitlines()
        taken = [line for line in lines if "execute_workload[" in line and "received" in line]
        if taken:
            counts[f"sellout-w{number}"] = len(taken)
    return counts
