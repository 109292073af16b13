"""The real-scheduler suite (``make test-airflow``) runs only when the marker expression names ``airflow_stack``, so
``pytest -m "not slow"`` and ``pytest -m slow`` never start an Airflow stack; what it measured is printed at the end."""

from __future__ import annotations


def pytest_configure(config):
    config.airflow_measured = []  # lines the tests append (task states, wall times)


def pytest_collection_modifyitems(config, items):
    if "airflow_stack" in (config.getoption("-m") or ""):
        return
    deselected = [item for item in items if item.get_closest_marker("airflow_stack") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.get_closest_marker("airflow_stack") is None]


def pytest_terminal_summary(terminalreporter):
    measured = getattr(terminalreporter.config, "airflow_measured", [])
    if measured:
        terminalreporter.section("Airflow stack: measured")
        for line in measured:
            terminalreporter.write_line(line)
