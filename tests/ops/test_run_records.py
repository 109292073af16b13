"""sellout.ops.run_records and sellout.ops.status against a real PostgreSQL: idempotent upserts, status output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg

from sellout.datasets.tableau_refresh import save_refresh
from sellout.ops import run_records
from sellout.ops.status import consecutive_failures, format_status, load_status

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _node(run_id: str, node: str, status: str, **extra) -> dict:
    return {
        "run_id": run_id,
        "node": node,
        "pipeline": "__default__",
        "status": status,
        "started_at": T0,
        "ended_at": T0 + timedelta(seconds=4),
        "duration_s": 4.0,
        "rows_in": 100,
        "rows_out": 40,
        "inputs": ["model_features"],
        "outputs": ["forecasts"],
        "error": None,
        "peak_rss_mb": 512.0,
        **extra,
    }


def _run(conn, run_id: str, failed: bool, start: datetime) -> None:
    run_records.start_run(
        conn,
        {
            "run_id": run_id,
            "pipeline": "__default__",
            "env": "local",
            "mode": "full",
            "dry_run": False,
            "started_at": start,
        },
    )
    run_records.end_node(conn, _node(run_id, "write_forecasts", "failed" if failed else "succeeded"))
    run_records.end_run(conn, run_id, start + timedelta(seconds=10), "boom" if failed else None)


def test_records_are_idempotent_and_status_reads_them(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        for _ in range(2):  # creating twice is harmless
            run_records.ensure_tables(conn)
        _run(conn, "r1", failed=False, start=T0)
        _run(conn, "r2", failed=True, start=T0 + timedelta(hours=1))
        # a retried node: same row, attempt 2, and the run recomputed from its nodes
        run_records.start_node(conn, _node("r2", "write_forecasts", "running"))
        run_records.end_node(conn, _node("r2", "write_forecasts", "succeeded"))
        run_records.end_run(conn, "r2", T0 + timedelta(hours=1, seconds=30), None)
        _run(conn, "r3", failed=True, start=T0 + timedelta(hours=2))
        results = [
            {"unique_id": "model.sellout.fct", "status": "success", "execution_time": 1.2, "rows_affected": 5}
        ]
        assert run_records.save_dbt_results(conn, "r1", "run", results) == 1
        run_records.save_dbt_results(conn, "r1", "run", results)
        record = {"item_type": "datasource", "item_name": "F", "job_id": "j1", "status": "succeeded"}
        save_refresh(conn, "r1", "datasource:name=F", record, "n8n")
        assert conn.execute("select count(*) from ops.dbt_results").fetchone()[0] == 1
        rows = conn.execute(
            "select run_id, status, sessions from ops.pipeline_runs order by run_id"
        ).fetchall()
        assert rows == [("r1", "succeeded", 1), ("r2", "succeeded", 1), ("r3", "failed", 1)]
        retried = "select attempt, peak_rss_mb from ops.node_runs where run_id = 'r2'"
        assert conn.execute(retried).fetchone() == (2, 512.0)
        assert consecutive_failures(conn) == 1
        _run(conn, "r4", failed=True, start=T0 + timedelta(hours=3))
        assert consecutive_failures(conn) == 2

    status = load_status(db_url, runs=2)
    assert [r["run_id"] for r in status.runs] == ["r4", "r3"]
    text = format_status(status)
    assert "r4  failed" in text and "write_forecasts" in text and "error: boom" in text
    assert "peak 512 MB" in text

    # a real process, as a user runs it: standard output must hold the JSON and nothing else
    result = subprocess.run(
        [sys.executable, "-m", "sellout", "status", "--run-id", "r1", "--json"],
        env={**os.environ, "SELLOUT_DB_URL": db_url, "KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert [r["run_id"] for r in data["runs"]] == ["r1"]
    assert data["refreshes"][0]["status"] == "succeeded" and data["refreshes"][0]["via"] == "n8n"


def test_status_of_an_empty_database(db_url):
    assert "No runs recorded yet" in format_status(load_status(db_url))
