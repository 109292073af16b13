"""Where the lineage events go: ``conf/<env>/lineage.yml`` in openlineage-python's transport format, unless
OpenLineage's own settings are set; and the pipeline run's id, the same in every session of one project run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.config import AbstractConfigLoader, MissingConfigException

RUN_NAMESPACE = uuid.UUID("5e110000-0000-4000-8000-00000000a11e")  # uuid5 namespace of pipeline run ids
OPENLINEAGE_OWN_SETTINGS = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG")


def lineage_settings(loader: AbstractConfigLoader) -> dict[str, Any]:
    """``lineage:`` of ``conf/base/lineage.yml`` merged with ``conf/<env>/lineage.yml``, read by the run's own
    loader (a second loader would take over OmegaConf's ``globals`` resolver from the run's: with
    ``--conf-source`` the catalog then no longer finds its globals); empty when no such file exists."""
    try:
        return dict(loader["lineage"].get("lineage") or {})
    except (KeyError, ValueError, MissingConfigException):
        return {}


def client_config(settings: Mapping[str, Any], project_path: str | Path) -> dict[str, Any] | None:
    """The openlineage-python config of the project's transport; ``None`` when OpenLineage's own settings
    (environment variables or its YAML file) are to be used."""
    if any(os.environ.get(name) for name in OPENLINEAGE_OWN_SETTINGS) or any(
        name.startswith("OPENLINEAGE__TRANSPORT") for name in os.environ
    ):
        return None
    transport = dict(settings.get("transport") or {"type": "console"})
    if transport.get("type") == "file":
        path = Path(str(transport["log_file_path"]))
        if not path.is_absolute():
            path = Path(project_path) / path
        transport = {"append": True, **transport, "log_file_path": str(path)}
    return {"transport": transport}


def pipeline_run_id(namespace: str, run_id: str) -> str:
    """The OpenLineage run id of the project's run ``run_id``: the same in every session (Airflow task) of it."""
    return str(uuid.uuid5(RUN_NAMESPACE, f"{namespace}/{run_id}"))
