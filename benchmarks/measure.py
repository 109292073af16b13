"""Wall time and peak memory of one command, measured as a child process."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    returncode: int
    wall_s: float
    peak_rss_mb: float


def measure(
    command: list[str], env: dict[str, str] | None = None, log_path: str | None = None
) -> Measurement:
    """Run ``command``; its own peak RSS comes from wait4 (the embedded database server is not its child)."""
    started = time.monotonic()
    with open(log_path or os.devnull, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(process.returncode, round(wall, 2), round(usage.ru_maxrss / 1024, 1))
