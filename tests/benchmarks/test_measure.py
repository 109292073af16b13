"""The benchmarks' peak memory is the measured command's own, not the benchmark process's."""

import sys

import numpy as np

from benchmarks.measure import measure

MB = 1024 * 1024


def test_a_command_reports_its_own_peak_not_its_parents():
    held = np.ones(600 * MB // 8)  # the benchmark holding a large retailer when it spawns a run
    allocates = "import numpy as np; a = np.ones(150 * 1024 * 1024 // 8); a += 1"
    result = measure([sys.executable, "-c", allocates])
    assert result.returncode == 0
    assert 150 <= result.peak_rss_mb < 450, (
        result
    )  # its own 150 MB array and interpreter, not the parent's 600
    assert held.sum() > 0


def test_a_command_keeps_its_exit_code_and_log(tmp_path):
    log = tmp_path / "run.log"
    result = measure([sys.executable, "-c", "print('hello'); raise SystemExit(3)"], log_path=str(log))
    assert result.returncode == 3
    assert log.read_text().strip() == "hello"


def test_a_command_that_cannot_start_fails():
    assert measure(["/nonexistent/program"]).returncode == 127
