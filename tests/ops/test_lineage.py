"""OpenLineage events (sellout.ops.lineage): a whole run read back from the file transport of conf/base/lineage.yml
-- every node with its datasets, dbt's models from its artifacts, one graph from the landing folders to
forecast.forecasts -- and the HTTP transport a Marquez would take, the precedence of OpenLineage's own settings,
dry runs, and a transport that fails without failing the run."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import defaultdict, deque
from pathlib import Path
from types import SimpleNamespace

import pytest
from kedro.framework.project import pipelines
from kedro.io import CachedDataset
from support.webhook_sink import WebhookSink

from sellout.api import run_pipeline
from sellout.config.loader import CONFIG_LOADER_ARGS, ProjectConfigLoader, config_loader
from sellout.datasets import PostgresTableDataset, RawFileLoadDataset, TableSnapshotDataset
from sellout.integrations import db
from sellout.ops import lineage
from sellout.sample_data import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OPENLINEAGE_VARIABLES = (
    "OPENLINEAGE_URL",
    "OPENLINEAGE_CONFIG",
    "OPENLINEAGE_DISABLED",
    "OPENLINEAGE_API_KEY",
)


@pytest.fixture
def lineage_project(isolated_project, monkeypatch):
    for name in [*OPENLINEAGE_VARIABLES, *(k for k in os.environ if k.startswith("OPENLINEAGE__"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SELLOUT_KEDRO_ENV", raising=False)
    generate(isolated_project["landing"], weeks=60)
    return isolated_project


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _graph(events: list[dict]) -> dict[tuple, set[tuple]]:
    """dataset -> job -> dataset edges of the COMPLETE events."""
    edges: dict[tuple, set[tuple]] = defaultdict(set)
    for event in events:
        if event["eventType"] != "COMPLETE":
            continue
        job = ("job", event["job"]["name"])
        for dataset in event.get("inputs") or []:
            edges[("dataset", dataset["namespace"], dataset["name"])].add(job)
        for dataset in event.get("outputs") or []:
            edges[job].add(("dataset", dataset["namespace"], dataset["name"]))
    return edges


def _path(edges: dict[tuple, set[tuple]], start: tuple, end: tuple) -> list[tuple] | None:
    previous = {start: None}
    todo = deque([start])
    while todo:
        current = todo.popleft()
        if current == end:
            path = []
            while current is not None:
                path.append(current)
                current = previous[current]
            return path[::-1]
        for following in edges.get(current, ()):
            if following not in previous:
                previous[following] = current
                todo.append(following)
    return None


def test_ingestion_and_dbt_meet_in_one_graph_from_the_landing_files_to_the_marts(lineage_project):
    """The fast half (default suite): the ingestion's tables are the ones dbt's models read."""
    for pipeline in ("ingestion", "transform"):
        assert (
            run_pipeline(pipeline, mode="full", env="local", project_path=PROJECT_ROOT).status == "succeeded"
        )
    events = _events(lineage_project["data"] / "09_lineage" / "openlineage.jsonl")
    namespace, database = lineage.postgres_namespace(lineage_project["url"])
    landing = ("dataset", "file", str((lineage_project["landing"] / "grocer_b").resolve()))
    mart = ("dataset", namespace, f"{database}.marts.fct_sellout_weekly")
    path = _path(_graph(events), landing, mart)
    assert path is not None, "no lineage path from the landing folder to marts.fct_sellout_weekly"
    jobs = [step[1] for step in path if step[0] == "job"]
    assert jobs[0].startswith("kedro.") and {"dbt.stg_sellout_lines", "dbt.fct_sellout_weekly"} <= set(
        jobs
    ), jobs
    assert [
        e["job"]["name"]
        for e in events
        if e["job"]["name"].startswith("kedro.") and "ingestion" in e["job"]["name"]
    ]
    assert (
        _path(_graph([e for e in events if not e["job"]["name"].startswith("dbt.")]), landing, mart) is None
    )


@pytest.mark.slow
def test_a_run_leaves_a_lineage_graph_from_the_landing_files_to_the_forecasts(lineage_project):
    summary = run_pipeline("__default__", mode="full", env="local", project_path=PROJECT_ROOT)
    assert summary.status == "succeeded"
    events = _events(lineage_project["data"] / "09_lineage" / "openlineage.jsonl")

    # Every event is a complete OpenLineage run event of the project's namespace.
    for event in events:
        assert event["eventType"] in {"START", "COMPLETE", "FAIL"}
        assert uuid.UUID(event["run"]["runId"]) and event["eventTime"] and event["producer"]
        assert event["schemaURL"].startswith("https://openlineage.io/spec/")
        assert event["job"]["namespace"] == "sellout"

    # One pipeline run, under the id the project's run id gives it; each node's run is its child.
    pipeline_run = lineage.pipeline_run_id("sellout", summary.run_id)
    pipeline_events = [e for e in events if e["job"]["name"] == "kedro.__default__"]
    assert [e["eventType"] for e in pipeline_events] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in pipeline_events} == {pipeline_run}
    assert pipeline_events[0]["run"]["facets"]["sellout"]["run_id"] == summary.run_id

    node_jobs = {e["job"]["name"] for e in events if e["job"]["facets"]["jobType"]["jobType"] == "NODE"}
    assert node_jobs == {f"kedro.{node.name}" for node in pipelines["__default__"].nodes}
    for job in node_jobs:
        runs = [e for e in events if e["job"]["name"] == job]
        assert [e["eventType"] for e in runs] == ["START", "COMPLETE"], job
        assert len({e["run"]["runId"] for e in runs}) == 1
        assert runs[1]["run"]["facets"]["parent"]["run"]["runId"] == pipeline_run
    assert {
        "kedro.plan_ingestion",
        "kedro.dbt_run",
        "kedro.write_forecasts",
        "kedro.refresh_tableau",
    } <= node_jobs

    # dbt's models, from its artifacts, as children of the dbt_run node's run, with their SQL.
    dbt_run = next(e for e in events if e["job"]["name"] == "kedro.dbt_run" and e["eventType"] == "COMPLETE")
    models = [e for e in events if e["job"]["name"].startswith("dbt.") and e["eventType"] == "COMPLETE"]
    assert {"dbt.stg_sellout_lines", "dbt.fct_sellout_weekly"} <= {e["job"]["name"] for e in models}
    for model in models:
        assert model["run"]["facets"]["parent"]["run"]["runId"] == dbt_run["run"]["runId"]
        assert model["run"]["facets"]["parent"]["root"]["run"]["runId"] == pipeline_run
        assert model["job"]["facets"]["jobType"]["integration"] == "DBT"
        assert "select" in model["job"]["facets"]["sql"]["query"].lower()

    # Kedro's and dbt's halves meet on the same table names: one graph, landing folder -> forecast table.
    namespace, database = lineage.postgres_namespace(lineage_project["url"])
    landing = ("dataset", "file", str((lineage_project["landing"] / "grocer_a").resolve()))
    forecasts = ("dataset", namespace, f"{database}.forecast.forecasts")
    sellout_lines = ("dataset", namespace, f"{database}.raw.sellout_lines")
    fact = ("dataset", namespace, f"{database}.marts.fct_sellout_weekly")
    edges = _graph(events)
    # (one shortest path each way: the graph has others, through the dimensions, that a search may take first)
    loaded, built, forecast = (
        _path(edges, landing, sellout_lines), _path(edges, sellout_lines, fact), _path(edges, fact, forecasts)
    )  # fmt: skip
    assert loaded and built and forecast, (
        "no lineage path from the landing folder through raw.sellout_lines and the fact table to the forecasts"
    )
    jobs = [step[1] for step in loaded + built + forecast if step[0] == "job"]
    assert jobs[0] == "kedro.plan_ingestion" and jobs[-1] == "kedro.write_forecasts", jobs
    assert {"dbt.stg_sellout_lines", "dbt.fct_sellout_weekly"} <= set(jobs), jobs  # through dbt's models
    # The dbt models' events are what joins them: without them the Kedro half alone has no such path.
    kedro_only = _graph([e for e in events if not e["job"]["name"].startswith("dbt.")])
    assert _path(kedro_only, sellout_lines, forecasts) is None

    # Outputs that are tables carry their columns; DataFrames their row counts.
    write = next(
        e for e in events if e["job"]["name"] == "kedro.write_forecasts" and e["eventType"] == "COMPLETE"
    )
    [table] = [o for o in write["outputs"] if o["name"].endswith("forecast.forecasts")]
    assert "forecast_units" in {f["name"] for f in table["facets"]["schema"]["fields"]}
    assert table["outputFacets"]["outputStatistics"]["rowCount"] > 0
    assert "password" not in json.dumps(events).lower()


def test_the_http_transport_reaches_a_lineage_server_and_openlineage_settings_win(
    lineage_project, monkeypatch
):
    with WebhookSink() as marquez:
        monkeypatch.setenv("OPENLINEAGE_URL", marquez.url("").rstrip("/"))
        summary = run_pipeline("ingestion", mode="full", env="local", project_path=PROJECT_ROOT)
        received = list(marquez.received)
    assert summary.status == "succeeded"
    assert received and {r.path for r in received} == {"/api/v1/lineage"}
    jobs = {r.json["job"]["name"] for r in received}
    assert {"kedro.ingestion", "kedro.plan_ingestion", "kedro.summarize_ingestion"} <= jobs
    # OPENLINEAGE_URL won over the project's file transport.
    assert not (lineage_project["data"] / "09_lineage" / "openlineage.jsonl").exists()


def test_a_dry_run_emits_nothing(lineage_project):
    events = lineage_project["data"] / "09_lineage" / "openlineage.jsonl"
    summary = run_pipeline("ingestion", mode="full", env="local", project_path=PROJECT_ROOT, dry_run=True)
    assert summary.status == "succeeded"
    assert not events.exists() or not _events(events)


def test_a_lineage_server_that_is_down_fails_no_run_and_is_tried_once(lineage_project, monkeypatch, caplog):
    with WebhookSink(statuses=[503]) as down:
        monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
        monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", down.url("").rstrip("/"))
        monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY__TOTAL", "1")
        monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY__BACKOFF_FACTOR", "0")
        summary = run_pipeline("ingestion", mode="full", env="local", project_path=PROJECT_ROOT)
        attempts = [(r.json["job"]["name"], r.json["eventType"]) for r in down.received]
    assert summary.status == "succeeded"
    # Only the first event was tried (with the transport's retries); the run went on without lineage.
    assert attempts and set(attempts) == {("kedro.ingestion", "START")}, attempts
    assert "no more lineage events for this run" in caplog.text


def test_catalog_datasets_get_openlineage_names(tmp_path):
    url = "postgresql://postgres:secret@db.example.org:6543/postgres?sslmode=require"
    names = lineage.DatasetNames(url, "sellout", [tmp_path / "landing" / "grocer_a"])
    assert lineage.postgres_namespace(url) == ("postgres://db.example.org:6543", "postgres")
    assert lineage.postgres_namespace("postgresql://postgres:@/sellout?host=/tmp/pg") == (
        "postgres://localhost:5432",
        "sellout",
    )
    weekly = PostgresTableDataset(
        table="marts.fct_sellout_weekly",
        load_args={
            "query": "select * from marts.fct_sellout_weekly f left join marts.dim_product p using (x)"
        },
    )
    assert [n.name for n in names.of("sellout_weekly", weekly, "input")] == [
        "postgres.marts.fct_sellout_weekly",
        "postgres.marts.dim_product",
    ]
    snapshot = TableSnapshotDataset(
        table="marts.fct_sellout_weekly",
        columns=["units"],
        keys=["source", "week_end_date"],
        stamps=["built_by_run"],
        filepath=str(tmp_path / "sellout_weekly.parquet"),
    )
    assert [n.name for n in names.of("sellout_weekly", snapshot, "input")] == [
        "postgres.marts.fct_sellout_weekly"
    ]
    loads = RawFileLoadDataset(quarantine_dir=str(tmp_path / "q"))
    assert {n.name for n in names.of("raw_file_loads", loads, "output")} >= {
        "postgres.raw.sellout_lines",
        "postgres.ops.ingested_files",
    }
    assert [n.name for n in names.of("ingested_files", loads, "input")] == ["postgres.ops.ingested_files"]
    assert names.of("params:dbt", None, "input") == []
    # a dataset kept in memory for the run (CachedDataset) is named by the file it wraps
    pickled = tmp_path / "05_model_input" / "feature_set.pkl"
    cached = CachedDataset({"type": "pickle.PickleDataset", "filepath": str(pickled)}, copy_mode="assign")
    assert names.of("feature_set", cached, "output") == [names.file(str(pickled))]
    assert names.memory("plan") == lineage.Name("kedro://sellout", "memory/plan")
    assert names.file("s3://bucket/a/b.parquet") == lineage.Name("s3://bucket", "/a/b.parquet")
    assert "secret" not in repr(names.table("raw.stores"))


def test_the_projects_transport_unless_openlineage_is_configured(monkeypatch, tmp_path):
    # (the client turns OPENLINEAGE_URL into OPENLINEAGE__TRANSPORT__* variables of the process)
    for name in [*OPENLINEAGE_VARIABLES, *(k for k in os.environ if k.startswith("OPENLINEAGE__"))]:
        monkeypatch.delenv(name, raising=False)
    settings = lineage.lineage_settings(config_loader("local", PROJECT_ROOT))
    assert settings["namespace"] == "sellout" and settings["transport"]["type"] == "file"
    config = lineage.client_config(settings, tmp_path)
    assert config["transport"]["log_file_path"].startswith(str(tmp_path))  # relative to the project
    assert config["transport"]["append"] is True
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")
    assert lineage.client_config(settings, tmp_path) is None
    assert db.dsn_parts("postgresql://u:p@h:1/d")["host"] == "h"


def test_the_hooks_read_the_runs_own_config_so_a_conf_source_elsewhere_keeps_its_globals(
    tmp_path, monkeypatch
):
    # `kedro run --conf-source <copy> --env bench`: an environment only the copy has (as make bench-flow runs).
    # A second loader of the project's own conf/ would take over OmegaConf's globals resolver from the run's.
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "bench").mkdir()
    monkeypatch.setenv("SELLOUT_DATA_DIR", str(tmp_path / "data"))
    loader = ProjectConfigLoader(
        str(conf), env="bench", runtime_params={"run_id": "r1"}, **CONFIG_LOADER_ARGS
    )
    context = SimpleNamespace(env="bench", project_path=PROJECT_ROOT, config_loader=loader)
    hooks = lineage.LineageHooks()
    hooks.after_context_created(context)
    assert hooks.enabled
    catalog = loader["catalog"]
    assert (
        catalog["model_panel"]["dataset"]["filepath"] == f"{tmp_path / 'data'}/04_feature/model_panel.parquet"
    )
