"""A command-line run ends without the interpreter's teardown, after everything a normal exit must do."""

import subprocess
import sys
import textwrap

import pytest

from sellout.ops.process_exit import end_process, started_by_command_line

SCRIPT = textwrap.dedent(
    """
    import atexit, logging, sys, threading
    from sellout.ops.process_exit import end_process

    sys.argv[0] = {argv0!r}
    folder = sys.argv[1]
    atexit.register(lambda: open(folder + "/atexit", "w").write("ran"))
    handler = logging.FileHandler(folder + "/log", delay=True)
    logging.getLogger("probe").addHandler(handler)
    logging.getLogger("probe").warning("the run's last line")
    sys.stdout.write("summary without a newline")  # still in the buffer when the process ends
    release = threading.Event()
    if {busy_thread!r}:
        threading.Thread(target=release.wait).start()
    end_process(3)
    release.set()
    print(" ... end_process returned")
    """
)


def _run_script(tmp_path, argv0: str, busy_thread: bool = False) -> subprocess.CompletedProcess:
    code = SCRIPT.format(argv0=argv0, busy_thread=busy_thread)
    return subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [
        ("/venv/bin/kedro", True),
        ("/venv/bin/sellout", True),
        ("/venv/lib/python3.11/site-packages/kedro/__main__.py", True),
        ("/project/src/sellout/__main__.py", True),
        ("python -m kedro", True),  # how `python -m kedro` rewrites sys.argv[0]
        ("python -m pytest", False),
        ("/venv/bin/pytest", False),
        ("/venv/bin/airflow", False),
        ("-c", False),
    ],
)
def test_only_the_kedro_and_sellout_commands_end_the_process(argv0, expected):
    assert started_by_command_line(argv0) is expected


def test_a_command_line_process_ends_with_its_code_after_atexit_logs_and_output(tmp_path):
    done = _run_script(tmp_path, "/venv/bin/kedro")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "summary without a newline"  # flushed, and nothing after end_process ran
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "log").read_text() == "the run's last line\n"


def test_a_process_with_a_running_thread_or_another_program_exits_as_usual(tmp_path):
    busy = _run_script(tmp_path, "/venv/bin/kedro", busy_thread=True)
    assert busy.returncode == 0 and busy.stdout.endswith("end_process returned\n"), busy.stderr
    other = _run_script(tmp_path, "/venv/bin/airflow")
    assert other.returncode == 0 and other.stdout.endswith("end_process returned\n"), other.stderr


def test_inside_the_test_runner_it_returns():
    # checked first: were it wrong, the call below would end the test run
    assert not started_by_command_line()
    end_process(0)  # pytest is the program here: the call returns and this test goes on
