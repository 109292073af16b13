"""The dry run: resolve the whole graph, validate every config file, check every connection, print the plan.

It writes nothing: no node runs, no dataset is saved, the database is only asked ``select 1`` and read-only
queries, and the embedded server is not started for it.

- ``kedro run --runner sellout.ops.dry_run.DryRunner --params dry_run=true``
- ``sellout run --dry-run`` / ``run_pipeline(..., dry_run=True)``
- the Airflow DAG's ``dry_run`` param (each task plans and checks its own nodes)

:class:`DryRunGuardHooks` refuses the two half forms (``--params dry_run=true`` with a runner that would run the
nodes, or the dry-run runner without ``dry_run=true``, which hooks that write run records rely on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner

from sellout.config.airflow import validate_airflow_config
from sellout.config.loader import config_loader, project_root
from sellout.config.project import ProjectConfig
from sellout.config.schema import ConfigError
from sellout.config.secrets import redact_url, safe_url
from sellout.config.tableau import TableauSettings
from sellout.datasets import stored
from sellout.integrations import db

logger = logging.getLogger(__name__)

REACH_TIMEOUT_S = 10.0
# Config groups the project reads (settings.py's patterns plus Kedro's own); each must load and resolve.
CONFIG_GROUPS = ("catalog", "parameters", "credentials", "sources", "airflow", "notifications")


class DryRunFailed(RuntimeError):
    """A dry-run check failed; the message lists every failed check."""


@dataclass
class Check:
    name: str
    status: str  # ok | failed | skipped
    detail: str


@dataclass
class PlannedDataset:
    name: str
    type: str
    where: str | None = None


@dataclass
class PlannedNode:
    name: str
    reads: list[PlannedDataset]
    writes: list[PlannedDataset]


@dataclass
class DryRunPlan:
    run_id: str | None
    env: str | None
    mode: str | None
    nodes: list[PlannedNode] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    files_to_load: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.status != "failed" for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def render(self) -> str:
        lines = [
            f"Dry run {self.run_id} (env {self.env}, mode {self.mode}): {len(self.nodes)} node(s) in order; "
            "nothing is written"
        ]
        for index, node in enumerate(self.nodes, start=1):
            lines.append(f"{index:>3}. {node.name}")
            lines.append(f"       reads:  {_datasets_text(node.reads)}")
            lines.append(f"       writes: {_datasets_text(node.writes)}")
        if self.files_to_load:
            lines.append("Files the ingestion would load:")
            for source, files in self.files_to_load.items():
                shown = ", ".join(files[:5]) + (f", ... ({len(files)} in all)" if len(files) > 5 else "")
                lines.append(f"  {source}: {shown or 'none'}")
        lines.append("Checks:")
        lines.extend(f"  {check.status:<7} {check.name}: {check.detail}" for check in self.checks)
        lines.append("Dry run OK" if self.ok else "Dry run FAILED")
        return "\n".join(lines)


def _datasets_text(datasets: list[PlannedDataset]) -> str:
    if not datasets:
        return "-"
    return ", ".join(f"{d.name} [{d.type}{': ' + d.where if d.where else ''}]" for d in datasets)


class DryRunner(AbstractRunner):
    """A Kedro runner that plans and checks instead of running nodes; ``plan`` holds the last plan."""

    def __init__(self, is_async: bool = False, project_path: str | Path | None = None) -> None:
        super().__init__(is_async=is_async)
        self.project_path = project_path
        self.plan: DryRunPlan | None = None

    def _get_executor(self, max_workers: int) -> None:
        return None

    def _run(self, pipeline: Pipeline, catalog, hook_manager=None, run_id: str | None = None) -> None:
        run_context = _load_or_none(catalog, "run_context") or {}
        project_path = Path(self.project_path) if self.project_path else project_root()
        plan = build_plan(pipeline, catalog, run_context)
        plan.checks, plan.files_to_load = run_checks(project_path, run_context.get("env") or "local", catalog)
        self.plan = plan
        print(plan.render(), flush=True)
        if not plan.ok:
            failed = [f"{c.name}: {c.detail}" for c in plan.checks if c.status == "failed"]
            raise DryRunFailed("Dry run found problems:\n" + "\n".join(failed))


def build_plan(pipeline: Pipeline, catalog, run_context: dict[str, Any]) -> DryRunPlan:
    """The nodes in the order they would run, each with the datasets it reads and writes."""
    plan = DryRunPlan(run_context.get("run_id"), run_context.get("env"), run_context.get("mode"))
    for node in pipeline.nodes:  # Kedro keeps them topologically sorted
        plan.nodes.append(
            PlannedNode(
                name=node.name,
                reads=[_describe_dataset(catalog, name) for name in node.inputs],
                writes=[_describe_dataset(catalog, name) for name in node.outputs],
            )
        )
    return plan


def _describe_dataset(catalog, name: str) -> PlannedDataset:
    if name.startswith("params:") or name == "parameters":
        return PlannedDataset(name, "parameters")
    try:
        dataset = catalog.get(name, fallback_to_runtime_pattern=True)
    except Exception:  # noqa: BLE001 - the graph check itself reports unresolved datasets
        dataset = None
    if dataset is None:
        return PlannedDataset(name, "unresolved")
    dataset = stored(dataset)
    type_name = type(dataset).__name__
    if type_name == "MemoryDataset":
        return PlannedDataset(name, "memory")
    try:
        described = dataset._describe()
    except Exception:  # noqa: BLE001 - a description is a nicety
        described = {}
    where = None
    for key in ("table", "filepath", "tables"):
        if described.get(key):
            value = described[key]
            where = ", ".join(value) if isinstance(value, list) else str(value)
            break
    return PlannedDataset(name, type_name, where)


def _load_or_none(catalog, name: str) -> Any:
    try:
        return catalog.load(name)
    except Exception:  # noqa: BLE001 - absent in a bare catalog (tests)
        return None


# -- checks ---------------------------------------------------------------------------------------------------


def run_checks(project_path: Path, env: str, catalog=None) -> tuple[list[Check], dict[str, list[str]]]:
    """Every check, each caught so that one failure does not hide the others."""
    checks: list[Check] = []
    files: dict[str, list[str]] = {}
    try:
        loader = config_loader(env, project_path)
    except Exception as exc:  # noqa: BLE001
        return [Check("config", "failed", _error_text(exc))], files

    def attempt(name: str, check: Callable[[], tuple[str, str]]) -> None:
        try:
            status, detail = check()
        except Exception as exc:  # noqa: BLE001 - reported as a failed check
            status, detail = "failed", _error_text(exc)
        checks.append(Check(name, status, detail))

    attempt("config files", lambda: check_config_files(project_path, env, loader))
    attempt("database", lambda: check_database(loader))
    attempt("landing folders", lambda: _landing(project_path, env, loader, files))
    attempt("retailer feeds", lambda: _check_feeds(ProjectConfig(env, project_path).sources))
    attempt("tableau", lambda: check_tableau(_tableau_settings(catalog)))
    attempt("webhook urls", lambda: check_webhook_urls(loader))
    return checks, files


def _check_feeds(sources) -> tuple[str, str]:
    # pandas comes with the feed check: imported by a dry run only, not when the settings load every run's hooks
    from sellout.ingest.check import dry_run_check  # noqa: PLC0415

    return dry_run_check(sources)


def _error_text(exc: Exception) -> str:
    return redact_url(f"{type(exc).__name__}: {exc}", None)


def check_config_files(project_path: Path, env: str, loader) -> tuple[str, str]:
    """Every YAML file parses; every config group resolves; every group matches its schema."""
    conf_root = Path(loader.conf_source)
    files = sorted(p for folder in ("base", env) for p in (conf_root / folder).rglob("*.y*ml") if p.is_file())
    for path in files:
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ValueError(f"{path.relative_to(conf_root.parent)}: not valid YAML: {exc}") from None
    loaded = []
    for group in CONFIG_GROUPS:
        try:
            config = loader[group]
        except MissingConfigException:
            continue
        except Exception as exc:  # noqa: BLE001 - name the group: the loader's message names the key
            raise ValueError(f"conf/{{base,{env}}}/{group}*: {exc}") from None
        loaded.append(group)
        if group == "airflow" and config:
            validate_airflow_config(config, [n.name for n in pipelines["__default__"].nodes])
    problems = ProjectConfig(env, project_path).problems()
    if problems:
        raise ConfigError(problems)
    return "ok", f"{len(files)} file(s) parse; {', '.join(loaded)} resolve and validate"


def check_database(loader) -> tuple[str, str]:
    url = db.resolve_url((loader["credentials"] or {}).get("db"))
    with db.connect(url, attempts=2) as conn:
        conn.execute("select 1").fetchone()
    return "ok", f"select 1 on {db.describe(url)}"


def _landing(project_path: Path, env: str, loader, files: dict[str, list[str]]) -> tuple[str, str]:
    sources = ProjectConfig(env, project_path).sources
    missing = [
        f"{name} ({source.directory})"
        for name, source in sources.items()
        if source.enabled and not Path(source.directory).is_dir()
    ]
    from sellout.ops.week_files import check_week_files  # noqa: PLC0415 - a dry run's check only

    status = check_week_files(project_path, env)
    files.update(status["new_files"])
    if missing:
        return "failed", f"landing folder(s) missing: {', '.join(missing)}"
    count = sum(len(v) for v in files.values())
    return "ok", f"{len(files)} enabled source(s), {count} new sell-out file(s)"


def _tableau_settings(catalog) -> TableauSettings | None:
    """The settings of the catalog's Tableau refresh (``None``: no catalog or no server configured)."""
    if catalog is None:
        return None
    from sellout.datasets.tableau_refresh import TableauRefreshDataset  # noqa: PLC0415 - a dry run's check only

    dataset = catalog.get("tableau_refresh_status")
    return dataset.settings() if isinstance(dataset, TableauRefreshDataset) else None


def check_tableau(parsed: TableauSettings | None) -> tuple[str, str]:
    """Credentials are complete and the server answers (unauthenticated ``serverinfo``); nothing is signed in."""
    if parsed is None:
        return "skipped", "no Tableau server configured"
    import requests  # noqa: PLC0415 - a dry run's check only

    url = f"{parsed.server_url}/api/2.4/serverinfo"
    try:
        response = requests.get(url, timeout=REACH_TIMEOUT_S)
    except requests.RequestException as exc:
        raise ConnectionError(
            f"Tableau server {safe_url(parsed.server_url)} unreachable: {type(exc).__name__}"
        ) from None
    if response.status_code >= 500:
        raise ConnectionError(
            f"Tableau server {safe_url(parsed.server_url)} answered HTTP {response.status_code}"
        )
    return "ok", f"{safe_url(parsed.server_url)} answers (HTTP {response.status_code}), {parsed.auth_label}"


def check_webhook_urls(loader) -> tuple[str, str]:
    """Every webhook URL (any ``*url`` key of notifications*.yml) is an http(s) URL."""
    urls: dict[str, str] = {}
    try:
        notifications = loader["notifications"]
    except MissingConfigException:
        notifications = {}
    urls.update(_url_values(notifications, "notifications"))
    bad = []
    for key, url in urls.items():
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            bad.append(f"{key} is not an http(s) URL ({safe_url(url)})")
    if bad:
        raise ValueError("; ".join(bad))
    if not urls:
        return "skipped", "no webhook configured"
    return "ok", ", ".join(f"{key} -> {safe_url(url)}" for key, url in urls.items())


def _url_values(config: Any, prefix: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if isinstance(config, dict):
        for key, value in config.items():
            path = f"{prefix}.{key}"
            if isinstance(value, str) and str(key).endswith("url") and value.strip():
                found[path] = value
            else:
                found.update(_url_values(value, path))
    elif isinstance(config, list):
        for index, value in enumerate(config):
            found.update(_url_values(value, f"{prefix}[{index}]"))
    return found


# -- the guard ------------------------------------------------------------------------------------------------


class DryRunGuardHooks:
    """Refuses a half dry run before anything runs. Register it last in settings.HOOKS (pluggy calls the last
    registered first), so that it runs before hooks that write run records."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        run_context = _load_or_none(catalog, "run_context") or {}
        dry_runner = "DryRunner" in str(run_params.get("runner") or "")
        if run_context.get("dry_run") and not dry_runner:
            raise DryRunFailed(
                "dry_run=true needs the dry-run runner, or the nodes would run and write: "
                "kedro run --runner sellout.ops.dry_run.DryRunner --params dry_run=true (or sellout run --dry-run)"
            )
        if dry_runner and not run_context.get("dry_run"):
            raise DryRunFailed(
                "The dry-run runner needs --params dry_run=true (hooks skip their writes on it)"
            )
