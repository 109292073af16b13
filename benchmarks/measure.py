"""Wall time and peak memory of one command, measured as a child process.

The command runs under a small launcher process (``python benchmarks/measure.py OUT COMMAND...``), which waits
for it and writes its peak RSS to OUT. A process's ru_maxrss starts at the resident size of the process that
forked it (Linux carries the old address space's high-water mark across exec): spawned straight from a benchmark
that holds a 20x retailer in memory, every run would report at least the benchmark's own size.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    returncode: int
    wall_s: float
    peak_rss_mb: float


def measure(
    command: list[str], env: dict[str, str] | None = None, log_path: str | None = None
) -> Measurement:
    """Run ``command``; its peak RSS is its own (the embedded database server is not its child)."""
    with tempfile.TemporaryDirectory(prefix="sellout-measure") as work:
        peak_file = Path(work) / "peak_kb"
        started = time.monotonic()
        with open(log_path or os.devnull, "wb") as log:
            launcher = [sys.executable, __file__, str(peak_file), *command]  # a script: stdlib only
            returncode = subprocess.run(
                launcher, check=False, env=env, stdout=log, stderr=subprocess.STDOUT
            ).returncode
        wall = time.monotonic() - started
        peak_kb = int(peak_file.read_text()) if peak_file.exists() else 0
    return Measurement(returncode, round(wall, 2), round(peak_kb / 1024, 1))


def _launch(peak_file: str, command: list[str]) -> int:
    pid = os.fork()
    if pid == 0:  # the command, forked from this small process
        try:
            os.execvpe(command[0], command, os.environ)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    Path(peak_file).write_text(str(usage.ru_maxrss))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    raise SystemExit(_launch(sys.argv[1], sys.argv[2:]))
