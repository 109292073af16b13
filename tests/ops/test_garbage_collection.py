"""The collector's pace: a run (anything that loads the project's settings) collects young objects less often."""

from __future__ import annotations

import gc
import subprocess
import sys

from sellout.ops.garbage_collection import YOUNG_GENERATION_OBJECTS, pace_for_batch_run


def test_loading_the_settings_paces_the_collector():
    code = "import gc, sellout.settings; print(gc.get_threshold())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == str((YOUNG_GENERATION_OBJECTS, 10, 10))


def test_a_threshold_the_process_set_higher_or_off_is_kept():
    before = gc.get_threshold()
    try:
        for own in ((200_000, 5, 5), (0, 10, 10)):  # 0: collection off
            gc.set_threshold(*own)
            pace_for_batch_run()
            assert gc.get_threshold() == own
        gc.set_threshold(700, 10, 10)
        pace_for_batch_run()
        assert gc.get_threshold() == (YOUNG_GENERATION_OBJECTS, 10, 10)
    finally:
        gc.set_threshold(*before)
