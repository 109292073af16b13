"""Shared fixtures: one embedded PostgreSQL server per test session, a fresh database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from support.databases import temporary_database

from sellout.integrations import embedded_db

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("SELLOUT_SHARED_DIR") or PROJECT_ROOT.parent / "shared")
DUNNHUMBY_DIR = SHARED_DIR / "data" / "dunnhumby_breakfast_at_the_frat"

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def pg_server():
    """The embedded server, in a short /tmp path (Unix socket paths are limited to ~100 bytes)."""
    pgdata = Path(tempfile.mkdtemp(prefix="sopg", dir="/tmp")) / "pg"
    url = embedded_db.start(pgdata)
    yield {"pgdata": pgdata, "url": url}
    embedded_db.stop(pgdata)
    shutil.rmtree(pgdata.parent, ignore_errors=True)


@pytest.fixture
def db_url(pg_server) -> str:
    """A fresh, empty database on the session's server; dropped after the test."""
    with temporary_database(pg_server["url"]) as url:
        yield url


@pytest.fixture(scope="session")
def dunnhumby_dir() -> Path:
    """The real dunnhumby files from ../shared; a user's clone without ../shared uses generated sample data."""
    if not (DUNNHUMBY_DIR / "transactions.csv.gz").exists():
        pytest.skip(f"real data not found at {DUNNHUMBY_DIR} (set SELLOUT_SHARED_DIR)")
    return DUNNHUMBY_DIR


# Outside systems a test run must never reach by accident: a developer's .env may set them.
OUTSIDE_SYSTEM_VARIABLES = (
    "NOTIFY_WEBHOOK_URL",
    "TABLEAU_SERVER_URL",
    "TABLEAU_TOKEN_NAME",
    "TABLEAU_TOKEN_SECRET",
)


@pytest.fixture
def isolated_project(tmp_path, db_url, monkeypatch) -> dict[str, Path | str]:
    """Point the project at a throw-away database, data folder, landing folder and dbt output; no outside systems.

    Returns the paths; the landing folder is empty until the test writes files into it.
    """
    paths = {"url": db_url, "data": tmp_path / "data", "landing": tmp_path / "landing"}
    monkeypatch.setenv("SELLOUT_DB_URL", db_url)
    monkeypatch.setenv("SELLOUT_DATA_DIR", str(paths["data"]))
    monkeypatch.setenv("SELLOUT_LANDING_DIR", str(paths["landing"]))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt_target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt_logs"))
    for name in OUTSIDE_SYSTEM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return paths
