"""Suites that need something the default run lacks (an Airflow stack, n8n) run only when asked for by marker."""

from __future__ import annotations


def deselect_unless_asked(config, items, marker: str) -> None:
    """Deselect the tests marked ``marker`` unless the ``-m`` expression names it."""
    if marker in (config.getoption("-m") or ""):
        return
    deselected = [item for item in items if item.get_closest_marker(marker) is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.get_closest_marker(marker) is None]
