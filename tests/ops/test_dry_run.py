"""The dry run resolves the graph, validates the config, checks the connections, prints the plan, writes nothing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.snapshots import file_hashes, table_checksums
from support.tableau_fake import FakeTableauServer

from sellout.api import run_pipeline
from sellout.command_line import main
from sellout.config.loader import config_loader
from sellout.config.tableau import TableauSettings
from sellout.ops import dry_run
from sellout.sample_data import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def project_env(isolated_project):
    generate(isolated_project["landing"], weeks=8)
    return isolated_project


def test_sellout_run_dry_run_prints_the_plan_and_writes_nothing(project_env):
    # A database and data folder with content: an earlier run loaded 8 weeks; a 9th week has landed since.
    assert run_pipeline("ingestion").status == "succeeded"
    generate(project_env["landing"], weeks=9)
    tables_before = table_checksums(project_env["url"])
    files_before = file_hashes(project_env["data"], project_env["landing"])
    assert any(name.startswith("raw.") for name in tables_before) and files_before

    result = CliRunner().invoke(main, ["run", "--dry-run", "--mode", "full", "--json"])

    assert result.exit_code == 0, result.output[-3000:]
    assert table_checksums(project_env["url"]) == tables_before
    assert file_hashes(project_env["data"], project_env["landing"]) == files_before
    summary = json.loads(result.output[result.output.index("{\n") :])
    plan = summary["outputs"]["dry_run_plan"]
    assert summary["status"] == "succeeded" and plan["ok"] is True
    names = [node["name"] for node in plan["nodes"]]
    assert names[0] == "plan_ingestion" and names[-1] == "notify_run_end"
    assert names.index("dbt_test") < names.index("build_model_panel") < names.index("refresh_tableau")
    load = plan["nodes"][names.index("parse_new_files")]
    assert {
        "name": "raw_file_loads",
        "type": "RawFileLoadDataset",
        "where": load["writes"][0]["where"],
    } in load["writes"]
    assert "ops.ingested_files" in load["writes"][0]["where"]
    checks = {check["name"]: check["status"] for check in plan["checks"]}
    assert checks == {
        "config files": "ok",
        "database": "ok",
        "landing folders": "ok",
        "retailer feeds": "ok",
        "tableau": "skipped",
        "webhook urls": "skipped",
    }
    assert plan["files_to_load"]["grocer_a"] == ["sellout_2023-03-04.csv"]  # only the new week
    # The plan is printed for a person too.
    assert " 1. plan_ingestion" in result.output
    assert "writes: forecasts [PostgresTableDataset: forecast.forecasts]" in result.output


def test_failed_checks_fail_the_dry_run_with_every_problem_named(project_env, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("SELLOUT_DB_URL", f"postgresql://sellout:hunter2secret@127.0.0.1:{port}/sellout")
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", "ftp://hooks.example.org/secret-path")
    monkeypatch.setenv("TABLEAU_SERVER_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TABLEAU_TOKEN_NAME", "pat")
    monkeypatch.setenv("TABLEAU_TOKEN_SECRET", "pat-secret-value")

    summary = run_pipeline("publish", dry_run=True, raise_on_error=False)

    assert summary.status == "failed"
    checks = {c["name"]: c for c in summary.outputs["dry_run_plan"]["checks"]}
    assert checks["database"]["status"] == "failed"
    assert f"127.0.0.1:{port}" in checks["database"]["detail"]
    assert checks["tableau"]["status"] == "failed" and "unreachable" in checks["tableau"]["detail"]
    assert checks["webhook urls"]["status"] == "failed"
    assert "not an http(s) URL" in checks["webhook urls"]["detail"]
    assert "Dry run found problems" in summary.error
    everything = json.dumps(summary.outputs) + (summary.error or "")
    for secret in ("hunter2secret", "pat-secret-value", "secret-path"):
        assert secret not in everything


def test_tableau_check_reaches_the_server_without_signing_in():
    with FakeTableauServer(datasources=[{"name": "sellout_forecasts"}]) as tableau:
        settings = {"server_url": tableau.url, "token_name": "pat", "token_secret": "x", "items": []}
        status, detail = dry_run.check_tableau(TableauSettings.from_config(settings))
        assert status == "ok" and "answers (HTTP" in detail
        assert tableau.calls("POST", r"/auth/signin") == []
    assert dry_run.check_tableau(None) == ("skipped", "no Tableau server configured")


def test_config_errors_name_the_file_and_the_key(tmp_path):
    shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    loader = config_loader("local", tmp_path)
    status, detail = dry_run.check_config_files(tmp_path, "local", loader)
    assert status == "ok" and "sources" in detail and "airflow" in detail

    (tmp_path / "conf" / "base" / "parameters_features.yml").write_text("features: [lags: 1\n")
    with pytest.raises(ValueError, match="conf/base/parameters_features.yml: not valid YAML"):
        dry_run.check_config_files(tmp_path, "local", config_loader("local", tmp_path))

    shutil.copy(
        PROJECT_ROOT / "conf/base/parameters_features.yml", tmp_path / "conf/base/parameters_features.yml"
    )
    sources = tmp_path / "conf" / "base" / "sources.yml"
    sources.write_text(
        sources.read_text().replace("week_ending_weekday: saturday", "week_ending_weekday: caturday", 1)
    )
    with pytest.raises(Exception, match="sources.grocer_a.sellout.week_ending_weekday"):
        dry_run.check_config_files(tmp_path, "local", config_loader("local", tmp_path))


class _Catalog:
    def __init__(self, run_context):
        self.run_context = run_context

    def load(self, name):
        return self.run_context


def test_the_guard_refuses_half_dry_runs():
    guard = dry_run.DryRunGuardHooks()
    with pytest.raises(dry_run.DryRunFailed, match="--runner sellout.ops.dry_run.DryRunner"):
        guard.before_pipeline_run({"runner": "SequentialRunner"}, None, _Catalog({"dry_run": True}))
    with pytest.raises(dry_run.DryRunFailed, match="needs --params dry_run=true"):
        guard.before_pipeline_run({"runner": "<DryRunner object>"}, None, _Catalog({"dry_run": False}))
    guard.before_pipeline_run({"runner": "<DryRunner object>"}, None, _Catalog({"dry_run": True}))
    guard.before_pipeline_run({"runner": "SequentialRunner"}, None, _Catalog({"dry_run": False}))


def test_kedro_run_with_the_dry_run_runner(project_env, tmp_path):
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "300"}
    result = subprocess.run(
        [str(BIN / "kedro"), "run", "--runner", "sellout.ops.dry_run.DryRunner", "--params", "dry_run=true"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Dry run OK" in result.stdout
    assert "  ok      database: select 1 on" in result.stdout
    assert not project_env["data"].exists()
    assert table_checksums(project_env["url"]) == {}
