"""Writes run records for one Kedro session: one autocommit connection, opened lazily; failures are logged and
counted, never raised (a run record must never change a run's outcome).

It never starts the embedded database: a run starts it on the way in (the run lock), and a failure path must not
start a database an operator stopped. While a run lasts, a heartbeat thread stamps ``ops.pipeline_runs.heartbeat_at``
so that a run killed without a word can be told from one that is still working.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from sellout.config.secrets import Redactor, redact_url
from sellout.integrations import db
from sellout.integrations.alert_events import first_lines
from sellout.ops import run_records

logger = logging.getLogger(__name__)
MAX_WRITE_FAILURES = 3


class RecordWriter:
    """One autocommit connection per session, opened lazily; failures are logged and counted, never raised."""

    def __init__(self, url_factory, redactor: Redactor) -> None:
        self._url_factory = url_factory
        self._redact = redactor
        self._conn = None
        self._url: str | None = None
        self._failures = 0
        self._lock = threading.Lock()
        self.disabled = False

    def __call__(self, what: str, write, *args) -> bool:
        if self.disabled:
            return False
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._url = self._url_factory()
                    self._conn = db.connect(self._url, attempts=2, base_delay=0.2, autocommit=True)
                    with self._conn.transaction():
                        run_records.ensure_tables(self._conn)
                with self._conn.transaction():
                    write(self._conn, *args)
                return True
            except Exception as exc:  # noqa: BLE001 - a run record must never fail the run
                self._failures += 1
                message = self._redact(redact_url(f"{type(exc).__name__}: {exc}", self._url))
                logger.warning("Run record %s not written: %s", what, first_lines(message, lines=2))
                self.close()
                if self._failures >= MAX_WRITE_FAILURES:
                    self.disabled = True
                    logger.warning(
                        "Run records disabled for the rest of this session after %d failed writes",
                        self._failures,
                    )
                return False

    def read(self, what: str, query, *args):
        """Run ``query(conn, *args)`` and return its value; ``None`` when the records cannot be read."""
        result: list[Any] = []
        self(what, lambda conn, *a: result.append(query(conn, *a)), *args)
        return result[0] if result else None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._conn.close()
            self._conn = None

    def start_heartbeat(self, run_id: str, every_s: float) -> None:
        """Stamp the run's heartbeat every ``every_s`` seconds until :meth:`stop_heartbeat`."""
        self._beating = threading.Event()

        def beat() -> None:
            while not self._beating.wait(every_s):
                self("heartbeat", run_records.heartbeat, run_id)

        threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True).start()

    def stop_heartbeat(self) -> None:
        beating = getattr(self, "_beating", None)
        if beating is not None:
            beating.set()
