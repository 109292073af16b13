"""A pipeline run in its own process, stopped at a pause point (sellout.ops.pause_points) and then killed or let go.

The test waits on files and on the database's own state, never on how long a step usually takes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from sellout.ops.run_lock import LOCK_KEY

SAFETY_TIMEOUT_S = 600.0  # only for a broken test: a healthy one never gets near it


class RunProcess:
    def __init__(self, args: list[str], workdir: Path, pause_at: str | None = None, env: dict | None = None):
        self.pause_dir = workdir / f"pause-{os.getpid()}-{time.monotonic_ns()}"
        self.log = workdir / f"{self.pause_dir.name}.log"
        environment = {**os.environ, **(env or {}), "KEDRO_DISABLE_TELEMETRY": "1"}
        if pause_at:
            environment.update(SELLOUT_PAUSE_AT=pause_at, SELLOUT_PAUSE_DIR=str(self.pause_dir))
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *args], stdout=self._log_file, stderr=subprocess.STDOUT, env=environment
        )

    def wait_until_paused(self) -> None:
        self._wait_for((self.pause_dir / "reached").exists, "the pause point")

    def wait_for_output(self, text: str) -> None:
        self._wait_for(lambda: text in self.output(), repr(text))

    def release(self) -> None:
        (self.pause_dir / "release").write_text("go", encoding="utf-8")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def finish(self) -> int:
        code = self.process.wait(timeout=SAFETY_TIMEOUT_S)
        self._log_file.close()
        return code

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def _wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + SAFETY_TIMEOUT_S
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"the run ended before {what}:\\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the run never reached {what}")
            time.sleep(0.05)


def wait_until_lock_free(url: str) -> None:
    """The server has noticed that the lock's holder is gone (a killed client's session ends a moment later)."""
    deadline = time.monotonic() + SAFETY_TIMEOUT_S
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and objid = %s and granted",
            (LOCK_KEY & 0xFFFFFFFF,),
        ).fetchone()[0]:
            if time.monotonic() > deadline:
                raise AssertionError("the run lock is still held")
            time.sleep(0.05)
