"""dbt as its users run it: `sellout dbt ARGS...` with the project's connection, `cd dbt && dbt debug` finding the
embedded server by itself, and the sources' freshness (dbt/models/staging/__sources.yml)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from sellout.datasets import raw_tables

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "pw-DO-NOT-LOG"


@pytest.fixture
def dbt_env(tmp_path, db_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SELLOUT_DBT_", "DBT_ENV_SECRET_"))}
    # trust authentication ignores the password: it is there to prove that it is never printed
    env.update(
        SELLOUT_DB_URL=db_url.replace("postgres:@", f"postgres:{SECRET}@"),
        DBT_TARGET_PATH=str(tmp_path / "dbt" / "target"),
        DBT_LOG_PATH=str(tmp_path / "dbt" / "logs"),
        KEDRO_DISABLE_TELEMETRY="1",
    )
    return env


def _sellout_dbt(env, *args, cwd=None):
    return subprocess.run(
        [str(BIN / "sellout"), "dbt", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=cwd or Path.home(),
    )


def test_sellout_dbt_runs_dbt_with_the_projects_connection_from_anywhere(dbt_env, tmp_path):
    done = _sellout_dbt(dbt_env, "debug", cwd=tmp_path)  # not the project folder: it finds dbt/ by itself
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "All checks passed!" in output
    assert SECRET not in output


def _loaded(db_url: str, loaded_days_ago: int) -> None:
    with psycopg.connect(db_url) as conn:
        raw_tables.ensure_schema(conn)
        conn.execute(
            "insert into ops.ingested_files (source, kind, file_name, sha256, size_bytes, status, run_id, loaded_at) "
            "values ('grocer_a', 'sellout', 'w.csv', %s, 1, 'loaded', 'r', now() - make_interval(days => %s))",
            (f"sha-{loaded_days_ago}", loaded_days_ago),
        )


@pytest.mark.parametrize(("days_ago", "exit_code", "status"), [(1, 0, "PASS"), (20, 1, "ERROR STALE")])
def test_source_freshness_is_declared_for_the_sellout_and_manifest_sources(
    dbt_env, db_url, days_ago, exit_code, status
):
    _loaded(db_url, days_ago)
    done = _sellout_dbt(dbt_env, "source", "freshness")
    output = done.stdout + done.stderr
    assert done.returncode == exit_code, output[-3000:]
    for source in ("raw.sellout_lines", "ops.ingested_files"):
        assert any(source in line and status in line for line in output.splitlines()), (
            source,
            output[-3000:],
        )


def test_dbt_from_its_own_folder_finds_the_embedded_server(pg_server, tmp_path):
    """`cd dbt && dbt debug` with none of the SELLOUT_DBT_* variables: the profile's defaults reach the embedded
    server's socket (SELLOUT_PGDATA, else ../data/postgres) and its `sellout` database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SELLOUT_DBT_", "DBT_ENV_SECRET_", "SELLOUT_DB"))
    }
    env.update(
        SELLOUT_PGDATA=str(pg_server["pgdata"]),
        DBT_TARGET_PATH=str(tmp_path / "t"),
        DBT_LOG_PATH=str(tmp_path / "l"),
    )
    done = subprocess.run(
        [str(BIN / "dbt"), "debug"],
        check=False,
        cwd=PROJECT_ROOT / "dbt",
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "All checks passed!" in done.stdout


def test_sellout_dbt_help_is_dbts_and_starts_no_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLOUT_DB")}
    env.update(SELLOUT_PGDATA=str(tmp_path / "pg"), KEDRO_DISABLE_TELEMETRY="1")
    done = _sellout_dbt(env, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage: dbt [OPTIONS] [COMMAND]" in done.stdout
    assert not (tmp_path / "pg").exists()
