"""Run control end to end, in real processes: one run at a time, killed runs abandoned, a stopped database stays
stopped, a bad parameter changes nothing. Every run stops at a pause point; the tests wait on files and on the
database's state, never on time."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest
from support.databases import temporary_database
from support.run_process import RunProcess, wait_until_lock_free
from support.snapshots import file_hashes, table_checksums

from sellout.integrations import embedded_db
from sellout.sample_data import generate

INGEST = ["sellout", "run", "--pipeline", "ingestion"]


@pytest.fixture
def project(isolated_project, tmp_path):
    generate(isolated_project["landing"], weeks=6)
    return {**isolated_project, "work": tmp_path}


def _loaded(url: str) -> tuple[int, list[tuple]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select count(*) from raw.sellout_lines").fetchone()[0]
        files = conn.execute(
            "select source, file_name, status, count(*) from ops.ingested_files group by 1, 2, 3 order by 1, 2"
        ).fetchall()
    return rows, files


def _status(run_id: str | None = None) -> dict:
    args = [sys.executable, "-m", "sellout", "status", "--json", "--abandoned-after", "0"]
    result = subprocess.run(
        [*args, *(["--run-id", run_id] if run_id else [])], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture
def clean_run(isolated_project, tmp_path_factory, pg_server):
    """What one clean ingestion of the same files loads, in a database of its own."""

    def load(landing) -> tuple[int, list[tuple]]:
        with temporary_database(pg_server["url"], "clean") as url:
            env = {"SELLOUT_DB_URL": url, "SELLOUT_DATA_DIR": str(tmp_path_factory.mktemp("clean-data"))}
            run = RunProcess(INGEST, tmp_path_factory.mktemp("clean"), env=env)
            assert run.finish() == 0, run.output()[-3000:]
            return _loaded(url)

    return load


def test_a_second_run_refuses_with_who_holds_the_database_and_the_data_is_one_clean_run(project, clean_run):
    first = RunProcess(
        [*INGEST, "--run-id", "first"], project["work"], pause_at="after_saved:raw_file_loads:1"
    )
    first.wait_until_paused()
    second = RunProcess([*INGEST, "--run-id", "second", "--no-wait"], project["work"])
    assert second.finish() == 1
    assert "Another run is writing to this database: run first (pid" in second.output()
    assert "Traceback" not in second.output()
    first.release()
    assert first.finish() == 0, first.output()[-3000:]
    assert _loaded(project["url"]) == clean_run(project["landing"])
    assert [r["run_id"] for r in _status()["runs"]] == ["first"]  # the refused run wrote no record


def test_a_second_run_waits_says_for_whom_then_finds_nothing_left_to_load(project, clean_run):
    first = RunProcess(
        [*INGEST, "--run-id", "first"], project["work"], pause_at="after_saved:raw_file_loads:2"
    )
    first.wait_until_paused()
    second = RunProcess(
        ["kedro", "run", "--pipelines", "ingestion", "--params", "run_id=second,run_control.lock_poll_s=0.1"],
        project["work"],
    )
    second.wait_for_output("Run second waiting for the database: run first (pid")
    first.release()
    assert first.finish() == 0, first.output()[-3000:]
    assert second.finish() == 0, second.output()[-3000:]
    assert _loaded(project["url"]) == clean_run(project["landing"])
    runs = {r["run_id"]: r["status"] for r in _status()["runs"]}
    assert runs == {"first": "succeeded", "second": "succeeded"}


@pytest.mark.parametrize(
    ("point", "running_node"),
    [
        ("after_saved:raw_file_loads:2", "parse_new_files"),  # in the middle of the load
        ("before_node:summarize_ingestion", "summarize_ingestion"),  # files loaded, the status not written
        ("before_node:dbt_test", "dbt_test"),  # the marts built, not tested
    ],
)
def test_a_killed_run_is_abandoned_with_its_running_node_and_a_rerun_equals_one_clean_run(
    project, clean_run, point, running_node
):
    killed = RunProcess(
        ["sellout", "run", "--pipeline", "__default__", "--run-id", "killed"], project["work"], pause_at=point
    )
    killed.wait_until_paused()
    killed.kill()
    wait_until_lock_free(project["url"])

    status = _status("killed")
    [run] = status["runs"]
    assert run["status"] == "abandoned" and "killed?" in run["error"]
    nodes = {n["node"]: n["status"] for n in status["nodes"]["killed"]}
    assert nodes[running_node] == "abandoned"

    rerun = RunProcess([*INGEST, "--run-id", "rerun"], project["work"])
    assert rerun.finish() == 0, rerun.output()[-3000:]
    assert _loaded(project["url"]) == clean_run(project["landing"])


def test_a_database_stopped_during_a_run_stays_stopped(project, monkeypatch, tmp_path):
    pgdata = tmp_path / "pg"
    embedded_db.start(pgdata)
    env = {"SELLOUT_DB_URL": "", "SELLOUT_PGDATA": str(pgdata)}
    run = RunProcess(
        [*INGEST, "--run-id", "stopped"], project["work"], pause_at="after_saved:raw_file_loads:1", env=env
    )
    run.wait_until_paused()
    assert embedded_db.stop(pgdata)  # the operator stops the database mid-run
    run.release()
    assert run.finish() == 1
    assert not embedded_db.status(
        pgdata
    ).running  # neither the failure path nor anything else started it again
    assert "embedded PostgreSQL server is not running" in run.output() or "connection" in run.output().lower()


def test_a_bad_parameter_fails_before_any_table_or_file_changes(project):
    first = RunProcess([*INGEST, "--run-id", "first"], project["work"])
    assert first.finish() == 0, first.output()[-3000:]
    generate(project["landing"], weeks=7)  # new files that a run would load
    tables, files = table_checksums(project["url"]), file_hashes(project["data"], project["landing"])

    bad = RunProcess(
        [
            "kedro",
            "run",
            "--params",
            "run_id=bad,preprocessing.min_weeks_history=eight,run_control.lock=sometimes",
        ],
        project["work"],
    )
    assert bad.finish() == 1
    output = bad.output()
    assert "preprocessing.min_weeks_history: Input should be a valid integer" in output
    assert "run_control.lock: Input should be 'wait' or 'refuse'" in output  # every problem, at once
    assert "Traceback" not in output
    assert table_checksums(project["url"]) == tables
    assert file_hashes(project["data"], project["landing"]) == files


def test_an_interrupted_full_reload_is_finished_by_the_next_incremental_run(project, clean_run):
    first = RunProcess([*INGEST, "--run-id", "first"], project["work"])
    assert first.finish() == 0, first.output()[-3000:]
    full = RunProcess(
        [*INGEST, "--run-id", "full", "--mode", "full"],
        project["work"],
        pause_at="after_saved:raw_file_loads:2",
    )
    full.wait_until_paused()
    full.kill()
    wait_until_lock_free(project["url"])
    with psycopg.connect(project["url"]) as conn:
        by_run = dict(conn.execute("select run_id, count(*) from ops.ingested_files group by 1").fetchall())
    assert by_run["full"] == 2 and by_run["first"] > 0  # two files reloaded, the others not yet

    resume = RunProcess([*INGEST, "--run-id", "resume"], project["work"])
    assert resume.finish() == 0, resume.output()[-3000:]
    assert "full reload was interrupted" in resume.output()
    with psycopg.connect(project["url"]) as conn:
        by_run = dict(conn.execute("select run_id, count(*) from ops.ingested_files group by 1").fetchall())
    assert set(by_run) == {"full", "resume"} and by_run["full"] == 2  # every file reloaded once, none twice
    assert _loaded(project["url"]) == clean_run(project["landing"])
