"""The Kedro hooks that emit the run's OpenLineage events (see the package's docstring)."""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from sellout.config.project import ProjectConfig
from sellout.integrations import db
from sellout.ops.lineage.config import client_config, lineage_settings, pipeline_run_id
from sellout.ops.lineage.dbt_artifacts import dbt_model_runs, dbt_target_path
from sellout.ops.lineage.names import DatasetNames

# openlineage-python (the `lineage` extra) is imported by the first run that emits: importing it took 0.27 s of
# every `kedro` command's start-up, a run with nothing new included (it stops before it would emit).
HAS_OPENLINEAGE = importlib.util.find_spec("openlineage") is not None


def _import_openlineage() -> None:
    global InputDataset, Job, OpenLineageClient, OutputDataset, Run, RunEvent, RunState  # noqa: PLW0603
    global error_message_run, job_type_job, output_statistics_output_dataset, parent_run, sql_job  # noqa: PLW0603
    global generate_new_uuid, KedroNodeJobFacet, SelloutRunFacet, airflow_context  # noqa: PLW0603
    from openlineage.client import OpenLineageClient  # noqa: PLC0415
    from openlineage.client.event_v2 import (  # noqa: PLC0415
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import (  # noqa: PLC0415
        error_message_run,
        job_type_job,
        output_statistics_output_dataset,
        parent_run,
        sql_job,
    )
    from openlineage.client.uuid import generate_new_uuid  # noqa: PLC0415

    from sellout.ops.lineage.facets import KedroNodeJobFacet, SelloutRunFacet, airflow_context  # noqa: PLC0415


logger = logging.getLogger(__name__)

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/main/client/python#sellout"
DBT_NODES = frozenset({"dbt_run"})


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
        if not HAS_OPENLINEAGE:
            if not self._warned:
                logger.info("OpenLineage: off (openlineage-python is not installed: the `lineage` extra)")
                self._warned = True
            return
        try:
            settings = lineage_settings(context.config_loader)
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
            self._client_config = config
            self.client = None  # made by the first run that emits
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
        if self.client is None:
            _import_openlineage()
            config = self._client_config
            self.client = OpenLineageClient(config=config) if config else OpenLineageClient()
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
        self._emit_node(RunState.START, node, catalog, outputs={})

    @hook_impl
    @_guarded
    def after_node_run(
        self, node, catalog, inputs, outputs: dict[str, Any], is_async: bool, run_id: str
    ) -> None:
        if self.active and node.name in self.node_runs:
            self._emit_node(RunState.COMPLETE, node, catalog, outputs=outputs)

    @hook_impl
    @_guarded
    def on_node_error(self, error: Exception, node, catalog, inputs, is_async: bool, run_id: str) -> None:
        if self.active and node.name in self.node_runs:
            self._emit_node(RunState.FAIL, node, catalog, error=error)

    def _emit_node(self, state, node, catalog, outputs: Mapping[str, Any] | None = None, error=None) -> None:
        """A node's event: what it reads, and what it writes unless it failed (``outputs`` its saved data)."""
        self._emit(
            state,
            self.node_runs[node.name],
            f"kedro.{node.name}",
            job_type="NODE",
            node=node,
            inputs=self._datasets(catalog, node.inputs, "input"),
            outputs=() if outputs is None else self._datasets(catalog, node.outputs, "output", outputs),
            error=error,
        )
        if state != RunState.START and node.name in DBT_NODES:
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
                airflow=airflow_context(),
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
