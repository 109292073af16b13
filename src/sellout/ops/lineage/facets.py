"""The project's own OpenLineage facets: the run (its id, environment, mode, Airflow task) and the Kedro node."""

from __future__ import annotations

import os
import socket

import attr

try:  # the `lineage` extra
    from openlineage.client.facet_v2 import JobFacet, RunFacet
except ImportError:  # pragma: no cover - exercised only in an image without the extra
    JobFacet = RunFacet = None

if RunFacet is not None:

    @attr.define
    class SelloutRunFacet(RunFacet):
        """The project's run: its id, environment, mode, and under Airflow the DAG run, task and try."""

        run_id: str
        env: str | None = None
        mode: str | None = None
        pipeline: str | None = None
        airflow: dict[str, str] | None = None

        @staticmethod
        def _get_schema() -> str:
            return "https://openlineage.io/spec/facets/1-0-0/RunFacet.json#/$defs/RunFacet"

    @attr.define
    class KedroNodeJobFacet(JobFacet):
        """The Kedro node behind a job: its function, inputs, outputs and tags."""

        func: str
        inputs: list[str]
        outputs: list[str]
        tags: list[str]

        @staticmethod
        def _get_schema() -> str:
            return "https://openlineage.io/spec/facets/1-0-0/JobFacet.json#/$defs/JobFacet"


def airflow_context() -> dict[str, str] | None:
    """The Airflow task this session runs in (PythonOperator exports ``AIRFLOW_CTX_*``), if any."""
    keys = {"dag_id": "AIRFLOW_CTX_DAG_ID", "task_id": "AIRFLOW_CTX_TASK_ID", "run_id": "AIRFLOW_CTX_DAG_RUN_ID",
            "try_number": "AIRFLOW_CTX_TRY_NUMBER"}  # fmt: skip
    found = {key: os.environ[name] for key, name in keys.items() if os.environ.get(name)}
    if found:
        found["hostname"] = socket.gethostname()
    return found or None
