"""The benchmarks' peak memory is the measured command's own, not the benchmark process's."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

# the benchmarks are scripts of the project, not an installed package: load the module from its file
_SPEC = importlib.util.spec_from_file_location(
    "bench_measure", Path(__file__).resolve().parents[2] / "benchmarks" / "measure.py"
)
_MODULE = sys.modules["bench_measure"] = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)
measure = _MODULE.measure

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
