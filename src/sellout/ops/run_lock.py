"""One run writes at a time: a PostgreSQL advisory lock per database, held by a run for as long as its session lasts.

``kedro run``, ``sellout run`` and the Airflow DAG's tasks all take it, so they cannot interleave on one database
(Airflow's ``max_active_runs`` only sees Airflow). The lock is a session-level advisory lock on a connection kept open
for the run: the server drops it when the process ends, however it ends (even SIGKILL), so a dead run never keeps
it. Who holds it, since when, from which process, is written to ``ops.run_lock`` for the message a second run prints.

A second run either waits, saying for whom and since when every ``poll_s`` seconds, or refuses at once with
:class:`RunLockHeld` (``lock: refuse``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime

from sellout.integrations import db

logger = logging.getLogger(__name__)

# pg_advisory_lock takes a bigint: a fixed key for "a sellout run writes to this database".
LOCK_KEY = 0x5E110_0001
DDL = """
create schema if not exists ops;
create table if not exists ops.run_lock (
    lock_name  text primary key,
    run_id     text not null,
    pid        integer not null,
    host       text not null,
    since      timestamptz not null
)
"""


class RunLockHeld(RuntimeError):
    """Another run holds the database; the message says which, since when, and what to do."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    pid: int
    host: str
    since: datetime

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}) since {self.since:%Y-%m-%d %H:%M:%S %Z}"


class RunLock:
    def __init__(
        self, url: str, run_id: str, *, wait: bool = True, poll_s: float = 5.0, timeout_s: float | None = None
    ):
        self.url, self.run_id = url, run_id
        self.wait, self.poll_s, self.timeout_s = wait, poll_s, timeout_s
        self._conn = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> None:
        conn = db.connect(self.url, attempts=2, autocommit=True)
        started = time.monotonic()
        try:
            while not conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
                holder = read_holder(conn)
                who = holder.describe() if holder else "another run"
                waited = time.monotonic() - started
                if not self.wait:
                    raise RunLockHeld(
                        f"Another run is writing to this database: {who}. Wait for it (drop --no-wait, or "
                        "--params lock=wait), or check it with `sellout status`."
                    )
                if self.timeout_s is not None and waited >= self.timeout_s:
                    raise RunLockHeld(f"Gave up after waiting {waited:.0f} s for {who} to finish.")
                logger.info(
                    "Run %s waiting for the database: %s holds it (waited %.0f s)", self.run_id, who, waited
                )
                time.sleep(self.poll_s)
            conn.execute(DDL)
            conn.execute(
                """
                insert into ops.run_lock (lock_name, run_id, pid, host, since) values ('run', %s, %s, %s, now())
                on conflict (lock_name) do update set
                    run_id = excluded.run_id, pid = excluded.pid, host = excluded.host, since = excluded.since
                """,
                (self.run_id, os.getpid(), socket.gethostname()),
            )
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        logger.info("Run %s holds the database (run lock)", self.run_id)

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
        except Exception as exc:  # noqa: BLE001 - closing the connection releases it as well
            logger.warning("Run lock released by closing its connection (%s)", type(exc).__name__)
        finally:
            self._conn.close()
            self._conn = None


def read_holder(conn) -> Holder | None:
    """Who holds the lock, from ``ops.run_lock`` (None when nobody ever took it)."""
    if conn.execute("select to_regclass('ops.run_lock')").fetchone()[0] is None:
        return None
    row = conn.execute("select run_id, pid, host, since from ops.run_lock where lock_name = 'run'").fetchone()
    return Holder(*row) if row else None


def active_run(conn) -> str | None:
    """The run id holding the lock right now, or None when no run is active (checked against the server)."""
    if conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
        conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
        return None
    holder = read_holder(conn)
    return holder.run_id if holder else "unknown"
