"""Pause points for fault-injection tests: a run stops at a chosen point until a file tells it to go on.

Inert unless ``SELLOUT_PAUSE_AT`` is set. ``SELLOUT_PAUSE_AT`` names the point, ``SELLOUT_PAUSE_DIR`` the folder:

- ``before_node:<node>``: before the node runs (its inputs are loaded);
- ``after_saved:<dataset>[:<n>]``: after the n-th save of the dataset (default 1; a generator node saves many).

At the point the run writes ``<dir>/reached`` (with its pid) and waits until ``<dir>/release`` exists. A test kills
the process there, or lets it go on, knowing exactly where it is: no sleep, no guess of how long a step takes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

PAUSE_AT = "SELLOUT_PAUSE_AT"
PAUSE_DIR = "SELLOUT_PAUSE_DIR"
# A paused run that nobody releases gives up after this long, so a broken test cannot hang CI forever.
MAX_PAUSE_S = 600.0


class PausePointHooks:
    def __init__(self) -> None:
        self._saves: dict[str, int] = {}

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool, run_id: str) -> None:
        self._maybe_pause(f"before_node:{node.name}")

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        self._saves[dataset_name] = self._saves.get(dataset_name, 0) + 1
        count = self._saves[dataset_name]
        self._maybe_pause(
            f"after_saved:{dataset_name}:{count}", f"after_saved:{dataset_name}" if count == 1 else None
        )

    @staticmethod
    def _maybe_pause(*points: str | None) -> None:
        wanted = os.environ.get(PAUSE_AT)
        if not wanted or wanted not in points:
            return
        folder = Path(os.environ[PAUSE_DIR])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "reached").write_text(str(os.getpid()), encoding="utf-8")
        deadline = time.monotonic() + MAX_PAUSE_S
        while not (folder / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
