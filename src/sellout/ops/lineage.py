"""OpenLineage events of every run, for tools that read lineage (Marquez, DataHub, OpenMetadata, ...).

:class:`LineageHooks` (registered in ``settings.py``) emits, through the openlineage-python client:

- one run of the job ``kedro.<pipeline>`` per Kedro session (START, then COMPLETE or FAIL);
- one run of the job ``kedro.<node>`` per node, with the catalog datasets it read as inputs and the ones it wrote
  as outputs (START, then COMPLETE or FAIL), its parent the pipeline run;
- after the dbt nodes (``dbt_run``), one run of ``dbt.<model>`` per model dbt built, read from dbt's own artifacts
  (``manifest.json`` for what each model reads, ``run_results.json`` for what ran and how it ended), its parent
  the ``dbt_run`` node's run.

Datasets are named by OpenLineage's naming conventions, so that Kedro's and dbt's halves meet: a table is
namespace ``postgres://<host>:<port>``, name ``<database>.<schema>.<table>`` whether a Kedro dataset or a dbt model
reads or writes it; a file or folder is namespace ``file``, name its absolute path; data handed from node to node in
memory is namespace ``kedro://<project>``, name ``memory/<dataset>``. So the graph runs from the landing folders
through ``raw.*``, dbt's staging and marts, the model files, to ``forecast.forecasts``.

The pipeline run's id is derived from the project's run id (``uuid5``): every task of one Airflow DAG run opens its
own Kedro session with Airflow's run id, and all of them report under the same parent run. Under Airflow the run
facet ``sellout`` also names the DAG, task and try.

Where the events go: ``conf/base/lineage.yml`` (``conf/<env>/lineage.yml`` overrides), in openlineage-python's own
transport format (``file`` by default, ``http`` for Marquez, ``console``, ``kafka`` ...). OpenLineage's own settings
win when set: ``OPENLINEAGE_URL`` (with ``OPENLINEAGE_API_KEY``), ``OPENLINEAGE_CONFIG`` (a YAML file) or
``OPENLINEAGE__TRANSPORT__*``; ``OPENLINEAGE_DISABLED=true`` turns it off. Dry runs emit nothing (they write nothing).
Without the ``lineage`` extra (openlineage-python) the hooks do nothing and say so once.

A lineage problem never fails a run: each hook logs what went wrong and the run goes on.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import socket
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

import attr
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from sellout.config.loader import CONF_SOURCE, CONFIG_LOADER_ARGS, ProjectConfigLoader
from sellout.config.project import ProjectConfig
from sellout.datasets import (
    AlertDataset,
    CodeMappingsDataset,
    LandingFilesDataset,
    PostgresTableDataset,
    RawFileLoadDataset,
    RunContextDataset,
    SettingsDataset,
    SourcesDataset,
    SupabaseTableDataset,
    TableauRefreshDataset,
)
from sellout.integrations import db
from sellout.integrations.dbt_runner import dbt_project_dir

try:  # the `lineage` extra
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        JobFacet,
        RunFacet,
        datasource_dataset,
        error_message_run,
        job_type_job,
        output_statistics_output_dataset,
        parent_run,
        schema_dataset,
        sql_job,
    )
    from openlineage.client.uuid import generate_new_uuid
except ImportError:  # pragma: no cover - exercised only in an image without the extra
    OpenLineageClient = None  # type: ignore[assignment,misc]

logger = logging.getLogger(__name__)

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/main/client/python#sellout"
RUN_NAMESPACE = uuid.UUID("5e110000-0000-4000-8000-00000000a11e")  # uuid5 namespace of pipeline run ids
DBT_NODES = frozenset({"dbt_run"})
OPENLINEAGE_OWN_SETTINGS = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG")
# What a raw file load writes: one transaction per file (sellout.datasets.raw_load, DDL in raw_tables).
RAW_LOAD_TABLES = (
    "raw.sellout_lines",
    "raw.stores",
    "raw.products",
    "raw.rejected_rows",
    "ops.ingested_files",
)
# Datasets that carry the run's configuration, not data: no lineage of their own.
CONFIG_DATASETS = (RunContextDataset, SourcesDataset, CodeMappingsDataset, SettingsDataset)


# -- configuration --------------------------------------------------------------------------------------------


def lineage_settings(env: str | None, project_path: str | Path) -> dict[str, Any]:
    """``lineage:`` of ``conf/base/lineage.yml`` merged with ``conf/<env>/lineage.yml`` (Kedro's loader, with the
    project's ``${oc.env:...}`` and ``${globals:...}``); empty when no such file exists."""
    patterns = {**CONFIG_LOADER_ARGS["config_patterns"], "lineage": ["lineage*", "lineage/**"]}
    loader = ProjectConfigLoader(
        conf_source=str(Path(project_path) / CONF_SOURCE),
        env=env,
        **{**CONFIG_LOADER_ARGS, "config_patterns": patterns},
    )
    try:
        return dict(loader["lineage"].get("lineage") or {})
    except (KeyError, ValueError):
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


# -- dataset names --------------------------------------------------------------------------------------------


def postgres_namespace(url: str) -> tuple[str, str]:
    """(``postgres://host:port``, database) of a database URL; a Unix socket is ``localhost``."""
    parts = db.dsn_parts(url)
    host = parts["host"] if not parts["host"].startswith("/") else "localhost"
    return f"postgres://{host}:{parts['port']}", parts["dbname"]


TABLE_IN_QUERY = re.compile(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)", re.IGNORECASE)


@attr.define(frozen=True)
class Name:
    namespace: str
    name: str
    facets: tuple[tuple[str, Any], ...] = ()


class DatasetNames:
    """OpenLineage names of the catalog's datasets, as inputs (what a load reads) and outputs (what a save writes)."""

    def __init__(self, db_url: str | None, project: str, landing_dirs: Iterable[str]) -> None:
        self.db = postgres_namespace(db_url) if db_url else ("postgres://unknown:5432", "postgres")
        self.project = project
        self.landing_dirs = sorted(str(Path(d).resolve()) for d in landing_dirs)

    def table(self, qualified: str, columns: Mapping[str, str] | None = None) -> Name:
        namespace, database = self.db
        facets: list[tuple[str, Any]] = [
            ("dataSource", datasource_dataset.DatasourceDatasetFacet(name=namespace, uri=namespace))
        ]
        if columns:
            fields = [schema_dataset.SchemaDatasetFacetFields(name=c, type=t) for c, t in columns.items()]
            facets.append(("schema", schema_dataset.SchemaDatasetFacet(fields=fields)))
        return Name(namespace, f"{database}.{qualified}", tuple(facets))

    def file(self, path: str | PurePath) -> Name:
        text = str(path)
        if "://" in text and not text.startswith("file://"):
            scheme, rest = text.split("://", 1)
            bucket, _, key = rest.partition("/")
            return Name(f"{scheme}://{bucket}", "/" + key)
        return Name("file", str(Path(text.removeprefix("file://")).resolve()))

    def memory(self, dataset_name: str) -> Name:
        return Name(f"kedro://{self.project}", f"memory/{dataset_name}")

    def of(self, dataset_name: str, dataset: Any, role: str) -> list[Name]:
        """What ``dataset`` reads (``role="input"``) or writes (``"output"``), by OpenLineage's names."""
        if (
            dataset_name.startswith("params:")
            or dataset_name == "parameters"
            or isinstance(dataset, CONFIG_DATASETS)
        ):
            return []
        if isinstance(dataset, LandingFilesDataset):
            return [self.file(directory) for directory in self.landing_dirs]
        if isinstance(dataset, RawFileLoadDataset):
            if role == "output":
                return [self.table(table) for table in RAW_LOAD_TABLES]
            read = getattr(dataset, "_read", "manifest")
            return [
                self.table(t)
                for t in (
                    ("raw.stores", "raw.products") if read == "master_codes" else ("ops.ingested_files",)
                )
            ]
        if isinstance(dataset, PostgresTableDataset):
            names = [self.table(dataset._table, getattr(dataset, "_columns", None))]
            query = (getattr(dataset, "_load_args", None) or {}).get("query")
            if role == "input" and query:
                names += [
                    self.table(t.lower())
                    for t in TABLE_IN_QUERY.findall(query)
                    if t.lower() != dataset._table
                ]
            return names
        if isinstance(dataset, SupabaseTableDataset):
            described = dataset._describe()
            return [self.table(f"{described.get('schema', 'public')}.{described.get('table')}")]
        if isinstance(dataset, TableauRefreshDataset):
            names = [self.file(dataset._filepath)]
            return names + ([self.table("ops.tableau_refreshes")] if role == "output" else [])
        if isinstance(dataset, AlertDataset):
            return [self.file(dataset._filepath)]
        if isinstance(dataset, MemoryDataset):
            return [self.memory(dataset_name)]
        described = _describe(dataset)
        location = described.get("filepath") or described.get("path")
        if location:
            return [self.file(location)]
        return [self.memory(dataset_name)]


def _describe(dataset: Any) -> dict[str, Any]:
    try:
        return dict(dataset._describe() or {})
    except Exception:  # noqa: BLE001 - a dataset that cannot describe itself is named by its catalog name
        return {}


# -- dbt's artifacts ------------------------------------------------------------------------------------------


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


# -- the hooks ------------------------------------------------------------------------------------------------


def _guarded(method):
    """A lineage problem is logged, never raised into the run; after one, the run emits no more events (a lineage
    server that is down costs the run one attempt and its retries, not one per event)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self.enabled:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - lineage must never fail a run
            logger.warning(
                "OpenLineage: %s failed (%s: %s); no more lineage events for this run",
                method.__name__,
                type(exc).__name__,
                exc,
            )
            self.active = False
            return None

    return wrapper


def _now() -> str:
    return datetime.now(UTC).isoformat()


if OpenLineageClient is not None:

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


class LineageHooks:
    """OpenLineage events of the pipeline run, each node and each dbt model (see the module's docstring)."""

    def __init__(self) -> None:
        self.enabled = False
        self.active = False
        self.client: Any = None
        self._folder: Path | None = None
        self._warned = False
        self._reset()

    def _reset(self) -> None:
        self.run_context: dict[str, Any] = {}
        self.pipeline = "__default__"
        self.namespace = "sellout"
        self.names: DatasetNames | None = None
        self.parent: Any = None
        self.node_runs: dict[str, str] = {}
        self.node_started: dict[str, datetime] = {}

    # -- set-up -------------------------------------------------------------------------------------------------

    @hook_impl
    def after_context_created(self, context) -> None:
        self.enabled = False
        if OpenLineageClient is None:
            if not self._warned:
                logger.info("OpenLineage: off (openlineage-python is not installed: the `lineage` extra)")
                self._warned = True
            return
        try:
            settings = lineage_settings(context.env, context.project_path)
            if not settings or not settings.get("enabled", True):
                return
            project = ProjectConfig.of_context(context)
            self.namespace = str(settings.get("namespace") or "sellout")
            self._db_credentials = project.credentials.get("db")
            self._landing = [source.directory for source in project.sources.values() if source.enabled]
            config = client_config(settings, context.project_path)
            transport = (config or {}).get("transport") or {}
            # made by the first run that emits (a dry run writes nothing, not even this folder)
            self._folder = (
                Path(transport["log_file_path"]).parent if transport.get("type") == "file" else None
            )
            self.client = OpenLineageClient(config=config) if config else OpenLineageClient()
            self.enabled = True
        except Exception as exc:  # noqa: BLE001 - lineage must never stop a run
            logger.warning("OpenLineage: off (%s: %s)", type(exc).__name__, exc)

    @hook_impl
    @_guarded
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._reset_run()
        self.run_context = dict(catalog.load("run_context"))
        if self.run_context.get("dry_run"):
            self.active = False
            return
        self.active = True
        if self._folder is not None:
            self._folder.mkdir(parents=True, exist_ok=True)
        self.pipeline = ",".join(run_params.get("pipeline_names") or ["__default__"])
        try:
            db_url = db.resolve_url(self._db_credentials)
        except Exception:  # noqa: BLE001 - a run that has no database yet names its tables without a host
            db_url = None
        self.names = DatasetNames(db_url, self.namespace, self._landing)
        run_id = pipeline_run_id(self.namespace, str(self.run_context["run_id"]))
        self.parent = self._parent_facet(run_id, self._pipeline_job())
        self._emit(RunState.START, run_id, self._pipeline_job(), job_type="PIPELINE")

    def _reset_run(self) -> None:
        namespace, names = self.namespace, None
        self._reset()
        self.namespace, self.names = namespace, names
        self.active = False

    @hook_impl
    @_guarded
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline, catalog) -> None:
        if self.active:
            self._emit(RunState.COMPLETE, self.parent.run.runId, self._pipeline_job(), job_type="PIPELINE")
            self.client.close(timeout=10)

    @hook_impl
    @_guarded
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self.active:
            self._emit(
                RunState.FAIL, self.parent.run.runId, self._pipeline_job(), job_type="PIPELINE", error=error
            )
            self.client.close(timeout=10)

    # -- nodes ----------------------------------------------------------------------------------------------------

    @hook_impl
    @_guarded
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool, run_id: str) -> None:
        if not self.active:
            return
        self.node_runs[node.name] = str(generate_new_uuid())
        self.node_started[node.name] = datetime.now(UTC)
        self._emit(
            RunState.START,
            self.node_runs[node.name],
            f"kedro.{node.name}",
            job_type="NODE",
            node=node,
            inputs=self._datasets(catalog, node.inputs, "input"),
            outputs=self._datasets(catalog, node.outputs, "output"),
        )

    @hook_impl
    @_guarded
    def after_node_run(
        self, node, catalog, inputs, outputs: dict[str, Any], is_async: bool, run_id: str
    ) -> None:
        if not self.active or node.name not in self.node_runs:
            return
        self._emit(
            RunState.COMPLETE,
            self.node_runs[node.name],
            f"kedro.{node.name}",
            job_type="NODE",
            node=node,
            inputs=self._datasets(catalog, node.inputs, "input"),
            outputs=self._datasets(catalog, node.outputs, "output", outputs),
        )
        if node.name in DBT_NODES:
            self._emit_dbt_models(node)

    @hook_impl
    @_guarded
    def on_node_error(self, error: Exception, node, catalog, inputs, is_async: bool, run_id: str) -> None:
        if not self.active or node.name not in self.node_runs:
            return
        self._emit(
            RunState.FAIL,
            self.node_runs[node.name],
            f"kedro.{node.name}",
            job_type="NODE",
            node=node,
            inputs=self._datasets(catalog, node.inputs, "input"),
            error=error,
        )
        if node.name in DBT_NODES:
            self._emit_dbt_models(node)

    def _datasets(self, catalog, names: Iterable[str], role: str, data: Mapping[str, Any] | None = None):
        found = []
        for dataset_name in names:
            dataset = _catalog_get(catalog, dataset_name)
            for name in self.names.of(dataset_name, dataset, role):
                facets = dict(name.facets)
                if role == "input":
                    found.append(InputDataset(namespace=name.namespace, name=name.name, facets=facets))
                    continue
                output_facets = {}
                rows = _rows((data or {}).get(dataset_name))
                if rows is not None:
                    output_facets["outputStatistics"] = (
                        output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows)
                    )
                found.append(
                    OutputDataset(
                        namespace=name.namespace, name=name.name, facets=facets, outputFacets=output_facets
                    )
                )
        return _unique(found)

    # -- dbt ------------------------------------------------------------------------------------------------------

    def _emit_dbt_models(self, node) -> None:
        parent = self._parent_facet(self.node_runs[node.name], f"kedro.{node.name}")
        for model in dbt_model_runs(dbt_target_path(), since=self.node_started.get(node.name)):
            run_id = str(generate_new_uuid())
            job = f"dbt.{model['name']}"
            inputs = [self._relation(r, InputDataset) for r in model["inputs"]]
            outputs = (
                [self._relation(model["output"], OutputDataset, model["columns"])] if model["output"] else []
            )
            extra_job = {"sql": sql_job.SQLJobFacet(query=model["sql"])} if model["sql"] else {}
            for state in (RunState.START, _dbt_state(model["status"])):
                self._emit(
                    state,
                    run_id,
                    job,
                    job_type="MODEL",
                    integration="DBT",
                    parent=parent,
                    inputs=inputs,
                    outputs=outputs,
                    job_facets=extra_job,
                    error_text=model["message"] if state == RunState.FAIL else None,
                    event_time=model["started_at"] if state == RunState.START else model["completed_at"],
                )

    def _relation(self, relation: tuple[str, str, str], cls, columns: Mapping[str, str | None] | None = None):
        database, schema, identifier = relation
        name = self.names.table(f"{schema}.{identifier}", {c: t or "" for c, t in (columns or {}).items()})
        return cls(
            namespace=name.namespace, name=f"{database}.{schema}.{identifier}", facets=dict(name.facets)
        )

    # -- events ---------------------------------------------------------------------------------------------------

    def _parent_facet(self, run_id: str, job_name: str):
        """The parent run; the root of every hierarchy is the pipeline run."""
        root_run, root_job = (
            (self.parent.run.runId, self.parent.job.name) if self.parent else (run_id, job_name)
        )
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_id),
            job=parent_run.Job(namespace=self.namespace, name=job_name),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=root_run),
                job=parent_run.RootJob(namespace=self.namespace, name=root_job),
            ),
        )

    def _pipeline_job(self) -> str:
        return f"kedro.{self.pipeline}"

    def _emit(
        self,
        state,
        run_id: str,
        job_name: str,
        *,
        job_type: str,
        integration: str = "KEDRO",
        node=None,
        parent=None,
        inputs=(),
        outputs=(),
        job_facets: Mapping[str, Any] | None = None,
        error: BaseException | None = None,
        error_text: str | None = None,
        event_time: str | None = None,
    ) -> None:
        run_facets: dict[str, Any] = {
            "sellout": SelloutRunFacet(
                run_id=str(self.run_context.get("run_id")),
                env=self.run_context.get("env"),
                mode=self.run_context.get("mode"),
                pipeline=self.pipeline,
                airflow=_airflow_context(),
            )
        }
        if job_type != "PIPELINE":
            run_facets["parent"] = parent or self.parent
        if error is not None or error_text:
            message = error_text or f"{type(error).__name__}: {error}"
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=message[:4000], programmingLanguage="python" if integration == "KEDRO" else "SQL"
            )
        facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration=integration, jobType=job_type
            ),
            **(job_facets or {}),
        }
        if node is not None:
            facets["kedro_node"] = KedroNodeJobFacet(
                func=f"{node.func.__module__}.{node.func.__qualname__}",
                inputs=list(node.inputs),
                outputs=list(node.outputs),
                tags=sorted(node.tags),
            )
        event = RunEvent(
            eventType=state,
            eventTime=event_time or _now(),
            run=Run(runId=run_id, facets=run_facets),
            job=Job(namespace=self.namespace, name=job_name, facets=facets),
            inputs=list(inputs),
            outputs=list(outputs),
            producer=PRODUCER,
        )
        self.client.emit(event)


def _dbt_state(status: str):
    return RunState.COMPLETE if status in ("success", "pass", "skipped", "warn") else RunState.FAIL


def _catalog_get(catalog, name: str) -> Any:
    try:
        return catalog.get(name)
    except Exception:  # noqa: BLE001 - an undeclared dataset is a MemoryDataset in a Kedro run
        return MemoryDataset()


def _rows(value: Any) -> int | None:
    try:
        return int(len(value)) if hasattr(value, "shape") else None
    except TypeError:
        return None


def _unique(datasets: list) -> list:
    seen, result = set(), []
    for dataset in datasets:
        key = (dataset.namespace, dataset.name)
        if key not in seen:
            seen.add(key)
            result.append(dataset)
    return result


def _airflow_context() -> dict[str, str] | None:
    """The Airflow task this session runs in (PythonOperator exports ``AIRFLOW_CTX_*``), if any."""
    keys = {"dag_id": "AIRFLOW_CTX_DAG_ID", "task_id": "AIRFLOW_CTX_TASK_ID", "run_id": "AIRFLOW_CTX_DAG_RUN_ID",
            "try_number": "AIRFLOW_CTX_TRY_NUMBER"}  # fmt: skip
    found = {key: os.environ[name] for key, name in keys.items() if os.environ.get(name)}
    if found:
        found["hostname"] = socket.gethostname()
    return found or None
