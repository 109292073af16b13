"""Run dbt in-process against the project's database.

``run_dbt`` takes the pipeline's database URL (embedded PostgreSQL locally, Supabase in prod), puts its parts
into the ``SELLOUT_DBT_*`` environment variables that ``dbt/profiles.yml`` reads, invokes dbt through
``dbtRunner`` and gives back a small, serialisable ``DbtResult``. The password travels in
``DBT_ENV_SECRET_SELLOUT_DBT_PASSWORD``: dbt scrubs ``DBT_ENV_SECRET_*`` values from everything it logs, and
every message this module returns or logs goes through the project's redactor as well.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sellout.canonical import MANIFEST_STATUSES, MEASURES
from sellout.config.loader import project_root
from sellout.config.secrets import redact_url
from sellout.integrations import db

logger = logging.getLogger(__name__)

PROJECT_DIR_ENV = "SELLOUT_DBT_PROJECT_DIR"
# Lists the dbt project's tests share with the Python side: passed on every invocation, so that they are one list.
CANONICAL_VARS: dict[str, Any] = {"manifest_statuses": list(MANIFEST_STATUSES), "measures": list(MEASURES)}
PASSWORD_ENV = "DBT_ENV_SECRET_SELLOUT_DBT_PASSWORD"
ENV_PREFIX = "SELLOUT_DBT_"
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})

# dbt keeps global state (flags, adapters, event manager) and reads the process environment: one invocation at
# a time per process.
_DBT_LOCK = threading.Lock()


class DbtProjectNotFoundError(FileNotFoundError):
    """The dbt project directory could not be located."""


@dataclass(frozen=True)
class DbtNodeResult:
    unique_id: str
    status: str
    execution_time: float
    rows_affected: int | None = None
    failures: int | None = None
    message: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES


@dataclass(frozen=True)
class DbtResult:
    command: list[str]
    success: bool
    results: list[DbtNodeResult] = field(default_factory=list)
    elapsed_s: float = 0.0
    error: str | None = None

    @property
    def failed(self) -> list[DbtNodeResult]:
        return [result for result in self.results if result.failed]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe_failures(self, limit: int = 20) -> str:
        """One line per failed node (and the invocation error, if any), for exception messages."""
        lines = []
        if self.error:
            lines.append(self.error)
        for result in self.failed[:limit]:
            detail = f" ({result.failures} failing rows)" if result.failures else ""
            message = f": {result.message}" if result.message else ""
            lines.append(f"{result.unique_id} [{result.status}]{detail}{message}")
        if len(self.failed) > limit:
            lines.append(f"... and {len(self.failed) - limit} more")
        return "\n".join(lines) or "dbt reported failure without details (see dbt/logs/dbt.log)"


def dbt_project_dir() -> Path:
    """The dbt project: ``SELLOUT_DBT_PROJECT_DIR``, else ``<project root>/dbt``, wherever the cwd is."""
    override = os.environ.get(PROJECT_DIR_ENV)
    if override:
        path = Path(override).expanduser().resolve()
        if not (path / "dbt_project.yml").is_file():
            raise DbtProjectNotFoundError(f"{PROJECT_DIR_ENV}={override} has no dbt_project.yml")
        return path
    candidates = [project_root() / "dbt"]
    cwd = Path.cwd().resolve()
    candidates.extend(candidate / "dbt" for candidate in (cwd, *cwd.parents))
    for candidate in candidates:
        if (candidate / "dbt_project.yml").is_file():
            return candidate.resolve()
    raise DbtProjectNotFoundError(
        f"No dbt project found (looked in {', '.join(str(c) for c in candidates[:3])}, ...); "
        f"set {PROJECT_DIR_ENV}"
    )


def dbt_env(db_url: str) -> dict[str, str]:
    """The environment variables ``dbt/profiles.yml`` reads, from a database URL."""
    parts = db.dsn_parts(db_url)
    return {
        f"{ENV_PREFIX}HOST": parts["host"],
        f"{ENV_PREFIX}PORT": parts["port"],
        f"{ENV_PREFIX}USER": parts["user"],
        PASSWORD_ENV: parts["password"],
        f"{ENV_PREFIX}DBNAME": parts["dbname"],
        f"{ENV_PREFIX}SSLMODE": parts["sslmode"],
    }


@contextmanager
def _patched_env(values: Mapping[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    keys = set(values) | set(remove)
    previous = {key: os.environ.get(key) for key in keys}
    try:
        for key in remove:
            os.environ.pop(key, None)
        os.environ.update(values)
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_dbt(
    command: list[str],
    db_url: str,
    project_dir: Path | None = None,
    *,
    vars: dict[str, Any] | None = None,
    target_path: Path | None = None,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> DbtResult:
    """Run one dbt command (e.g. ``["run", "--select", "marts"]``) in-process; never raises for dbt failures.

    ``env``: environment variables for this invocation only (what models and macros read with ``env_var``).

    ``target_path`` defaults to ``<project_dir>/target`` and ``log_path`` to ``<target_path>/../logs`` when a
    target path is given, else ``<project_dir>/logs``. Connection settings come only from ``db_url``. The
    ``CANONICAL_VARS`` (manifest statuses, measures) are always passed; ``vars`` may not change them.
    """
    _skip_iri_grammar()
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - dbt takes seconds to import; only the dbt nodes need it

    project_dir = Path(project_dir) if project_dir is not None else dbt_project_dir()

    def scrub(text: str | None) -> str | None:
        return None if text is None else redact_url(str(text), db_url)

    # dbt's console lines go to the project's log (logger sellout.dbt), not to standard output
    args = [*command, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    args += ["--log-level", "none", "--log-level-file", "info"]
    if target_path is not None:
        args += ["--target-path", str(target_path)]
        log_path = log_path or Path(target_path).parent / "logs"
    if log_path is not None:
        args += ["--log-path", str(log_path)]
    args += ["--vars", json.dumps({**(vars or {}), **CANONICAL_VARS}, default=str)]

    logger.info("dbt %s (project %s, database %s)", " ".join(command), project_dir, db.describe(db_url))
    started = time.perf_counter()
    with (
        _DBT_LOCK,
        _patched_env({**dbt_env(db_url), **(env or {})}, remove=(f"{ENV_PREFIX}PASSWORD", *_SCOPED)),
    ):
        try:
            outcome = dbtRunner(callbacks=[_forward_to_log]).invoke(args)
        except Exception as exc:  # dbtRunner catches most errors itself; this is the last resort
            outcome = None
            invoke_error: str | None = f"{type(exc).__name__}: {exc}"
        else:
            invoke_error = None
    elapsed = round(time.perf_counter() - started, 3)

    if outcome is None:
        result = DbtResult(list(command), False, [], elapsed, scrub(invoke_error))
    else:
        nodes = [_node_result(node, scrub) for node in (getattr(outcome.result, "results", None) or [])]
        error = None
        if outcome.exception is not None:
            error = scrub(f"{type(outcome.exception).__name__}: {outcome.exception}")
        elif not outcome.success and not any(node.failed for node in nodes):
            error = "dbt reported failure (see dbt.log in the log path)"
        result = DbtResult(list(command), bool(outcome.success), nodes, elapsed, error)

    counts: dict[str, int] = {}
    for node in result.results:
        counts[node.status] = counts.get(node.status, 0) + 1
    log = logger.info if result.success else logger.error
    log(
        "dbt %s %s in %.1fs: %s%s",
        command[0] if command else "",
        "succeeded" if result.success else "FAILED",
        elapsed,
        ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no nodes",
        "" if result.success else "\n" + result.describe_failures(),
    )
    return result


# Variables one invocation may set: unset for every other, so that a test run by hand sees every row.
_SCOPED = ("SELLOUT_DBT_RUN_ID", "SELLOUT_DBT_TESTS_RUN_ID")
_DBT_LOG = logging.getLogger("sellout.dbt")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def _forward_to_log(event: Any) -> None:
    """dbt's console events to the project's log (the level dbt gives them; its debug events are dropped)."""
    info = event.info
    level = _LEVELS.get(str(info.level), logging.INFO)
    if level > logging.DEBUG and info.msg:
        _DBT_LOG.log(level, "%s", info.msg)


def _node_result(node: Any, scrub) -> DbtNodeResult:
    status = getattr(node.status, "value", node.status)
    adapter_response = getattr(node, "adapter_response", None) or {}
    rows = adapter_response.get("rows_affected") if isinstance(adapter_response, dict) else None
    failures = getattr(node, "failures", None)
    return DbtNodeResult(
        unique_id=str(getattr(node.node, "unique_id", "?")),
        status=str(status),
        execution_time=round(float(getattr(node, "execution_time", 0.0) or 0.0), 3),
        rows_affected=int(rows) if rows is not None and rows >= 0 else None,
        failures=int(failures) if failures is not None else None,
        message=scrub(node.message) if getattr(node, "message", None) is not None else None,
    )


def _skip_iri_grammar() -> None:
    """Keep jsonschema from importing ``rfc3987_syntax`` on dbt's way in, unless something imported it already.

    jsonschema registers an IRI format check when that package is installed (Jupyter's extra installs it), and
    importing it builds a Lark grammar: 1.7 s of every run's dbt start-up, for a format dbt's schemas never use.
    Without it jsonschema leaves the ``iri`` format unchecked, as it does wherever the package is missing.
    """
    sys.modules.setdefault("rfc3987_syntax", None)
