"""A run with nothing new is nearly free: it records itself as ``noop`` and keeps the last forecasts.

Nothing is new when the run's fingerprint equals the one the last succeeded run of the same pipeline ended with.
The fingerprint covers what a run's result depends on:

- the code: ``src/sellout/**/*.py`` and the dbt project (models, macros, tests, ``dbt_project.yml``);
- the configuration: every file of ``conf/base`` and ``conf/<env>``, the resolved parameters (runtime parameters
  included, the run id and the mode left out) and the resolved retailer feeds (so a changed ``${oc.env:...}`` counts);
- the data: the files in the landing folders (source, kind, sha256) and the manifest's loaded files.

Only an incremental run without a backfill can be a no-op; ``--mode full`` and a backfill always run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from sellout.config.project import ProjectConfig
from sellout.ingest.landing import LandingFile, scan_sources

CODE_GLOBS = (
    ("src/sellout", "**/*.py"),
    ("dbt", "models/**/*"),
    ("dbt", "macros/**/*"),
    ("dbt", "tests/**/*"),
)
# A full run does all that an incremental run does: the incremental run after it, with nothing new, is a no-op;
# a dry run records nothing, and `sellout run` passes dry_run=False where `kedro run` passes nothing.
IGNORED_PARAMETERS = {"run_id", "mode", "dry_run"}


class NothingNew(Exception):  # noqa: N818 - not an error: the run had nothing to do
    """The run found nothing new; ``previous`` is the run whose forecasts stay."""

    def __init__(self, previous: str) -> None:
        super().__init__(
            f"Nothing new since run {previous}: no file, configuration, parameter or code changed, so nothing ran; "
            f"the forecasts of run {previous} stay (use --mode full to run everything again)"
        )
        self.previous = previous


def can_be_no_op(run_context: dict[str, Any]) -> bool:
    return (
        run_context["mode"] == "incremental"
        and not run_context.get("backfill")
        and not run_context["dry_run"]
    )


def fingerprint(project: ProjectConfig, pipeline: str, conn) -> str:
    """The run's fingerprint now: code, configuration and data (see the module's docstring)."""
    digest = hashlib.sha256()
    digest.update(pipeline.encode())
    digest.update(code_digest(project.project_path).encode())
    for folder in (project.loader.base_env, project.env):
        for path in sorted((project.conf_path / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(project.conf_path)).encode())
                digest.update(path.read_bytes())
    parameters = {k: v for k, v in project.parameters.items() if k not in IGNORED_PARAMETERS}
    digest.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    sources = {name: source.model_dump(mode="json") for name, source in project.sources.items()}
    digest.update(json.dumps(sources, sort_keys=True).encode())
    digest.update(_landing_digest(scan_sources(project.sources)).encode())
    digest.update(_manifest_digest(conn).encode())
    return digest.hexdigest()


@cache
def code_digest(project_path: Path) -> str:
    digest = hashlib.sha256()
    for folder, pattern in CODE_GLOBS:
        for path in sorted((project_path / folder).glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(project_path)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _landing_digest(files: Iterable[LandingFile]) -> str:
    return hashlib.sha256(
        json.dumps(sorted((f.source, f.kind, f.sha256) for f in files)).encode()
    ).hexdigest()


def _manifest_digest(conn) -> str:
    if conn.execute("select to_regclass('ops.ingested_files')").fetchone()[0] is None:
        return "no manifest"
    rows = conn.execute(
        "select source, sha256, file_id, status from ops.ingested_files order by file_id"
    ).fetchall()
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


def last_fingerprint(conn, pipeline: str, run_id: str) -> str | None:
    """The fingerprint the last succeeded (or no-op) run of ``pipeline`` other than ``run_id`` ended with."""
    row = conn.execute(
        """
        select fingerprint from ops.pipeline_runs
        where pipeline = %s and run_id <> %s and status in ('succeeded', 'noop') and fingerprint is not null
        order by coalesce(ended_at, started_at) desc limit 1
        """,
        (pipeline, run_id),
    ).fetchone()
    return row[0] if row else None


def last_succeeded(conn, pipeline: str) -> str | None:
    """The last run of ``pipeline`` that did the work (its forecasts are the ones that stay)."""
    row = conn.execute(
        "select run_id from ops.pipeline_runs where pipeline = %s and status = 'succeeded' "
        "order by coalesce(ended_at, started_at) desc limit 1",
        (pipeline,),
    ).fetchone()
    return row[0] if row else None


def record_no_op(conn, run: dict[str, Any], fingerprint_now: str) -> None:
    conn.execute(
        """
        insert into ops.pipeline_runs (run_id, pipeline, env, mode, dry_run, status, started_at, ended_at,
                                       duration_s, nodes_total, nodes_failed, heartbeat_at, fingerprint)
        values (%(run_id)s, %(pipeline)s, %(env)s, %(mode)s, false, 'noop', now(), now(), 0, 0, 0, now(), %(fp)s)
        on conflict (run_id) do update set status = 'noop', ended_at = now(), fingerprint = excluded.fingerprint,
            updated_at = now()
        """,
        {**run, "fp": fingerprint_now},
    )


def store_fingerprint(conn, run_id: str, fingerprint_now: str) -> None:
    conn.execute("update ops.pipeline_runs set fingerprint = %s where run_id = %s", (fingerprint_now, run_id))
