"""Ending a `kedro run` or `sellout run` process without Python's teardown.

After a run, the interpreter's own exit frees every object and module the run left behind, one by one: about
0.94 s after a dunnhumby week (1 GB of panels, features and models; measured between the command's return and
the process's end, with the atexit handlers taking no time). A command-line process gains nothing from it: what
an exit must do is run the atexit handlers, close the log handlers and flush the terminal, and then the
operating system takes the memory back at once.

This only ends a process that the command line started (``kedro`` or ``sellout`` is the program). Inside a test
runner, a scheduler's worker or a notebook it returns, and so it does while another non-daemon thread still
runs (a normal exit waits for it): the caller then returns or exits as usual.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
from pathlib import Path

COMMANDS = frozenset({"kedro", "sellout"})


def started_by_command_line(argv0: str | None = None) -> bool:
    """True when the program is the ``kedro`` or ``sellout`` command, or ``python -m kedro|sellout`` (whose
    ``sys.argv[0]`` is the package's ``__main__.py``, or ``python -m kedro`` as Kedro rewrites it)."""
    words = (sys.argv[0] if argv0 is None else argv0).split()
    if len(words) == 3 and words[:2] == ["python", "-m"]:
        return words[2] in COMMANDS
    program = Path(" ".join(words))
    name = program.parent.name if program.name == "__main__.py" else program.name
    return name in COMMANDS


def end_process(code: int) -> None:
    """Exit with ``code`` now, after the atexit handlers, the log handlers and stdout/stderr; see the module."""
    if not started_by_command_line():
        return
    if any(t is not threading.main_thread() and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()  # noqa: SLF001 - what the interpreter's exit runs first; os._exit skips it
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing left to say there
            stream.flush()
    os._exit(code)
