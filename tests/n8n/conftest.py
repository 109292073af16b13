"""n8n tests: ``make test-n8n`` installs the pinned n8n (``npm ci`` in airflow/n8n) and runs ``pytest -m n8n``.

Tests marked ``n8n`` are deselected unless the marker expression names ``n8n``, so the default suite never
needs Node.js (the unmarked static checks of the workflow files run everywhere).
"""

from support.markers import deselect_unless_asked


def pytest_configure(config):
    config.addinivalue_line("markers", "n8n: needs the pinned n8n from airflow/n8n (make test-n8n)")


def pytest_collection_modifyitems(config, items):
    deselect_unless_asked(config, items, "n8n")
