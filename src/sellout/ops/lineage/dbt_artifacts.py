"""What dbt's last invocation built and read, from its own artifacts (``run_results.json``, ``manifest.json``)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from sellout.integrations.dbt_runner import dbt_project_dir


def dbt_model_runs(target_path: Path, since: datetime | None = None) -> list[dict[str, Any]]:
    """One entry per model, seed or snapshot of dbt's last invocation (``run_results.json``) with what it read and
    wrote (``manifest.json``): ``{unique_id, name, status, inputs: [relation], output: relation, sql, timing}``;
    a relation is ``(database, schema, identifier)``. Empty when the artifacts are older than ``since``."""
    results_file, manifest_file = target_path / "run_results.json", target_path / "manifest.json"
    if not (results_file.is_file() and manifest_file.is_file()):
        return []
    results = json.loads(results_file.read_text())
    if since is not None:
        generated = datetime.fromisoformat(results["metadata"]["generated_at"].replace("Z", "+00:00"))
        if generated < since:
            return []
    manifest = json.loads(manifest_file.read_text())
    nodes, sources = manifest.get("nodes", {}), manifest.get("sources", {})

    def relation(unique_id: str) -> tuple[str, str, str] | None:
        item = nodes.get(unique_id) or sources.get(unique_id)
        if item is None or item.get("resource_type") not in ("model", "seed", "snapshot", "source"):
            return None
        identifier = item.get("identifier") if item["resource_type"] == "source" else item.get("alias")
        return (item["database"], item["schema"], identifier or item["name"])

    runs = []
    for result in results.get("results", []):
        node = nodes.get(result["unique_id"])
        if node is None or node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        inputs = [r for r in (relation(u) for u in node.get("depends_on", {}).get("nodes", [])) if r]
        timing = {t["name"]: t for t in result.get("timing", [])}
        runs.append(
            {
                "unique_id": node["unique_id"],
                "name": node["name"],
                "status": result["status"],
                "message": result.get("message"),
                "inputs": inputs,
                "output": relation(node["unique_id"]),
                "sql": node.get("compiled_code") or node.get("raw_code"),
                "started_at": (timing.get("execute") or timing.get("compile") or {}).get("started_at"),
                "completed_at": (timing.get("execute") or {}).get("completed_at"),
                "columns": {c: (v.get("data_type") or None) for c, v in (node.get("columns") or {}).items()},
            }
        )
    return runs


def dbt_target_path() -> Path:
    """Where dbt writes its artifacts: ``DBT_TARGET_PATH`` (dbt reads it too), else the dbt project's target/."""
    override = os.environ.get("DBT_TARGET_PATH")
    return Path(override) if override else dbt_project_dir() / "target"
