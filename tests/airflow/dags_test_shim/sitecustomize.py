"""Loaded (via PYTHONPATH) only by the `airflow dags test` subprocesses of tests/airflow/test_dags_test.py.

Works around an Airflow 3.3.2 bug of `dags test` alone: `DAG.test()` hands `DagRun.update_state` a DAG whose
deadline alerts are still serialized dicts, where the scheduler's DAG (read from the database) holds their ids; a
successful run then fails in `DeadlineAlert.get_by_id({...})` ("'dict' object has no attribute 'hex'") while
pruning its deadlines. The scheduler on the NAS never takes this path. This accepts the serialized form too.
"""

from __future__ import annotations

import types


def _install() -> None:
    from airflow.models import deadline_alert  # noqa: PLC0415 - patched only in the dags-test process

    model = deadline_alert.DeadlineAlert
    original = model.get_by_id

    def get_by_id(deadline_alert_id, *args, **kwargs):
        if isinstance(deadline_alert_id, dict):
            data = deadline_alert_id.get("__var", deadline_alert_id)
            stand_in = types.SimpleNamespace(reference=data["reference"])
            stand_in.reference_class = model.reference_class.fget(stand_in)
            return stand_in
        return original(deadline_alert_id, *args, **kwargs)

    model.get_by_id = staticmethod(get_by_id)


_install()
