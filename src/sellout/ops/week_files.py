"""The data-availability check: which enabled sources have a sell-out file that the manifest does not know yet.

Reads only the config, the landing folders and ``ops.ingested_files`` (absent = nothing loaded yet); never starts
the embedded server. The Airflow sensor waits on it; the dry run lists what the ingestion would load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sellout.config.project import ProjectConfig
from sellout.ingest.landing import scan_sources
from sellout.integrations import db


def check_week_files(project_path: str | Path, env: str, require: str = "all") -> dict[str, Any]:
    """``ready`` is true when ``require`` (all / any) of the enabled sources have a new sell-out file."""
    project = ProjectConfig(env, project_path)
    sources = project.sources
    url = db.resolve_url(project.credentials.get("db"))
    known: set[tuple[str, str]] = set()
    with db.connect(url, attempts=2) as conn:
        if conn.execute("select to_regclass('ops.ingested_files')").fetchone()[0] is not None:
            known = {tuple(row) for row in conn.execute("select source, sha256 from ops.ingested_files")}
    by_source: dict[str, list[str]] = {name: [] for name, source in sources.items() if source.enabled}
    for landing in scan_sources(sources):
        if landing.kind == "sellout" and (landing.source, landing.sha256) not in known:
            by_source[landing.source].append(landing.file_name)
    have = [name for name, files in by_source.items() if files]
    waiting = [name for name, files in by_source.items() if not files]
    ready = bool(by_source) and (not waiting if require == "all" else bool(have))
    return {"ready": ready, "require": require, "new_files": by_source, "waiting_for": waiting}
