"""The real-scheduler suite (``make test-airflow``) runs only when the marker expression names ``airflow_stack``, so
``pytest -m "not slow"`` and ``pytest -m slow`` never start an Airflow stack; what it measured is printed at the end."""

from __future__ import annotations

from support.markers import deselect_unless_asked


def pytest_configure(config):
    config.airflow_measured = []  # lines the tests append (task states, wall times)


def pytest_collection_modifyitems(config, items):
    deselect_unless_asked(config, items, "airflow_stack")


def pytest_terminal_summary(terminalreporter):
    measured = getattr(terminalreporter.config, "airflow_measured", [])
    if measured:
        terminalreporter.section("Airflow stack: measured")
        for line in measured:
            terminalreporter.write_line(line)
