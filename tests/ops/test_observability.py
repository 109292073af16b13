"""The observability hooks on the real graph: JSON logs, run records, alerts, and the secret canaries.

One whole run on sample data (real PostgreSQL, real dbt, the fake Tableau server, a Slack-like HTTP sink and
an SMTP sink), then a publish run whose Tableau refresh fails. Every credential holds a canary value; no
canary may appear in any output.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd
import psycopg
import pytest
import tableauserverclient.exponential_backoff as backoff
from click.testing import CliRunner
from kedro.pipeline import node
from support.smtp_sink import SmtpSink
from support.tableau_fake import FINISH_FAILED, FakeTableauServer
from support.webhook_sink import WebhookSink

import sellout.api
from sellout.api import run_pipeline
from sellout.command_line import main as cli
from sellout.ops import observability
from sellout.ops.observability import RUNLOG, count_rows
from sellout.pipelines.publish import create_pipeline as create_publish_pipeline
from sellout.sample_data import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CANARY = {
    "TABLEAU_TOKEN_SECRET": "CANARY-tableau-pat-3f9a1c",
    "TABLEAU_JWT": "",
    "SUPABASE_KEY": "CANARY-supabase-key-8b2d7e",
    "SUPABASE_URL": "https://canary-project.supabase.co",
    "SMTP_PASSWORD": "CANARY-smtp-pass-5c1e0a",
    "DB_PASSWORD": "CANARY-db-pass-6d4b2f",
    "NOTIFY_TOKEN": "CANARY-n8n-hook-1a2b3c",
    "SLACK_TOKEN": "CANARY-slack-hook-9e8d7c",
}
SECRETS = [v for k, v in CANARY.items() if v and k not in {"TABLEAU_JWT", "SUPABASE_URL"}]


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password)}@{host}"))


def _conf_with_quality_gate(tmp_path: Path, gate_file: Path) -> Path:
    """A copy of conf/ with a `quality_gate_status` entry, until the forecasting stage produces it."""
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf)
    defined = any("quality_gate_status:" in p.read_text() for p in (conf / "base").glob("catalog*.yml"))
    if not defined:
        gate_file.write_text(
            json.dumps({"run_id": None, "passed": True, "reason": "test gate", "model_wape": 0.3}), "utf-8"
        )
        (conf / "base" / "catalog_zz_test_gate.yml").write_text(
            f"quality_gate_status:\n  type: json.JSONDataset\n  filepath: {gate_file}\n", "utf-8"
        )
    return conf


@pytest.fixture
def canary_env(tmp_path, db_url, monkeypatch):
    monkeypatch.setattr(backoff, "ASYNC_POLL_MIN_INTERVAL", 0.02)
    with (
        WebhookSink() as hooks,
        SmtpSink(username="alerts", password=CANARY["SMTP_PASSWORD"]) as smtp,
        FakeTableauServer(
            token_name="sellout-ci",
            token_secret=CANARY["TABLEAU_TOKEN_SECRET"],
            datasources=[{"name": "sellout_forecasts"}],
        ) as tableau,
    ):
        env = {
            "SELLOUT_DB_URL": _with_password(db_url, CANARY["DB_PASSWORD"]),
            "SELLOUT_DATA_DIR": str(tmp_path / "data"),
            "SELLOUT_LANDING_DIR": str(tmp_path / "landing"),
            "DBT_TARGET_PATH": str(tmp_path / "dbt_target"),
            "DBT_LOG_PATH": str(tmp_path / "dbt_logs"),
            "TABLEAU_SERVER_URL": tableau.url,
            "TABLEAU_SITE": "",
            "TABLEAU_TOKEN_NAME": "sellout-ci",
            "TABLEAU_TOKEN_SECRET": CANARY["TABLEAU_TOKEN_SECRET"],
            "TABLEAU_JWT": "",
            "SUPABASE_URL": CANARY["SUPABASE_URL"],
            "SUPABASE_KEY": CANARY["SUPABASE_KEY"],
            "NOTIFY_WEBHOOK_URL": hooks.url(f"/webhook/{CANARY['NOTIFY_TOKEN']}"),
            "N8N_ESCALATION_WEBHOOK_URL": hooks.url(f"/escalate/{CANARY['NOTIFY_TOKEN']}"),
            "SLACK_WEBHOOK_URL": hooks.url(f"/services/{CANARY['SLACK_TOKEN']}"),
            "ONCALL_SLACK_WEBHOOK_URL": "",
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_STARTTLS": "false",
            "SMTP_USERNAME": "alerts",
            "SMTP_PASSWORD": CANARY["SMTP_PASSWORD"],
            "ONCALL_EMAIL_TO": "oncall@example.com",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("TABLEAU_REFRESH_VIA", raising=False)
        monkeypatch.delenv("AIRFLOW_CTX_DAG_RUN_ID", raising=False)
        generate(tmp_path / "landing", weeks=60)
        conf = _conf_with_quality_gate(tmp_path, tmp_path / "quality_gate_status.json")
        yield {"hooks": hooks, "smtp": smtp, "tableau": tableau, "conf": str(conf), "db_url": db_url}


class _Collect(logging.Handler):
    """Collects every log record of the run. Kedro's logging config (applied by ``configure_project`` at each
    run) drops the handlers of the root and of every logger under the package, caplog's too: the fixture
    re-attaches this handler to the root after each configuration."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in self.records)


@pytest.fixture
def collected(monkeypatch):

    handler = _Collect()
    original = sellout.api.configure_project

    def configure_then_collect(package_name):
        original(package_name)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)

    monkeypatch.setattr(sellout.api, "configure_project", configure_then_collect)
    yield handler
    logging.getLogger().removeHandler(handler)


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def _all_outputs(tmp_path: Path, env: dict, collected: _Collect, capfd) -> dict[str, str]:
    """Every place a secret could leak to, as text."""
    out = {"logs": collected.text}
    captured = capfd.readouterr()
    out["stdout"], out["stderr"] = captured.out, captured.err
    for path in tmp_path.rglob("*"):
        if path.is_file() and "landing" not in path.parts and "conf" not in path.parts:
            out[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for table in ("pipeline_runs", "node_runs", "dbt_results", "tableau_refreshes"):
        out[f"ops.{table}"] = json.dumps(_rows(env["db_url"], f"select * from ops.{table}"), default=str)
    # the bodies: the path is the address the token belongs to
    out["webhooks"] = "\n".join(r.body.decode() for r in env["hooks"].received)
    out["emails"] = "\n".join(m.raw.decode("utf-8", "replace") for m in env["smtp"].messages)
    return out


@pytest.mark.slow  # the whole graph on sample data, then a failing publish run: about 25-40 s here
def test_whole_run_records_logs_alerts_and_leaks_no_secret(canary_env, tmp_path, collected, capfd):
    env = canary_env
    summary = run_pipeline("__default__", mode="full", project_path=PROJECT_ROOT, conf_source=env["conf"])
    assert summary.status == "succeeded", summary.error

    # run records: the run, each node with the datasets it read and wrote, dbt's results
    [run] = _rows(
        env["db_url"],
        "select run_id, status, nodes_total, nodes_failed, rows_in, rows_out from ops.pipeline_runs",
    )
    assert run[:4] == (summary.run_id, "succeeded", run[2], 0) and run[2] >= 10
    nodes = {
        r[0]: r[1:]
        for r in _rows(
            env["db_url"],
            "select node, status, duration_s, rows_in, rows_out, inputs, outputs from ops.node_runs",
        )
    }
    assert all(n[0] == "succeeded" and n[1] is not None for n in nodes.values())
    [refresh] = [n for n in create_publish_pipeline().nodes if n.name == "refresh_tableau"]
    assert nodes["refresh_tableau"][4] == refresh.inputs and len(refresh.inputs) >= 3
    assert nodes["refresh_tableau"][5] == refresh.outputs == ["tableau_refresh_status"]
    write = summary.outputs["forecast_write_status"]
    assert any(n[3] == write["rows"] for n in nodes.values())  # the forecast writer's rows out
    # each node's memory high-water mark: set, and never falling from one node to the next of the run
    peaks = [
        p
        for (p,) in _rows(
            env["db_url"],
            f"select peak_rss_mb from ops.node_runs where run_id = '{summary.run_id}' order by ended_at",
        )
    ]
    assert all(p is not None and p > 0 for p in peaks) and peaks == sorted(peaks)
    dbt_rows = _rows(env["db_url"], "select command, status, count(*) from ops.dbt_results group by 1, 2")
    assert {(c, s) for c, s, _ in dbt_rows} >= {("run", "success"), ("test", "pass")}
    # the refresh confirmation
    [refresh] = _rows(env["db_url"], "select status, job_id, finish_code from ops.tableau_refreshes")
    assert refresh == ("succeeded", next(iter(env["tableau"].jobs)), 0)

    # JSON logs with run id, node, duration, rows
    lines = [json.loads(r.getMessage()) for r in collected.records if r.name == RUNLOG]
    finished = [line for line in lines if line["event"] == "node_finished"]
    assert {line["node"] for line in finished} == set(nodes)
    assert all(line["run_id"] == summary.run_id and line["duration_s"] is not None for line in finished)
    assert lines[-1]["event"] == "run_finished" and lines[-1]["status"] == "succeeded"

    # alerts: refresh_confirmed and run_succeeded (info) go to the n8n webhook only
    events = [(r.path.split("/")[1], r.json.get("event")) for r in env["hooks"].received]
    assert events == [("webhook", "refresh_confirmed"), ("webhook", "run_succeeded")]

    # `sellout status` shows the run, its nodes and the confirmation
    result = CliRunner().invoke(cli, ["status", "--runs", "3"], catch_exceptions=False)
    assert result.exit_code == 0
    assert summary.run_id in result.output and "refresh_tableau" in result.output
    assert "sellout_forecasts" in result.output and "succeeded" in result.output

    # a failing refresh: node and run recorded as failed, alerts to Slack and email, still no secret
    env["tableau"].script_refresh("sellout_forecasts", finish_code=FINISH_FAILED, notes="Extract failed.")
    failed = run_pipeline("publish", project_path=PROJECT_ROOT, conf_source=env["conf"], raise_on_error=False)
    assert failed.status == "failed"
    [(status, error)] = _rows(
        env["db_url"], f"select status, error from ops.pipeline_runs where run_id = '{failed.run_id}'"
    )
    assert status == "failed" and "Extract failed." in error
    [(node_status,)] = _rows(
        env["db_url"],
        f"select status from ops.node_runs where run_id = '{failed.run_id}' and node = 'refresh_tableau'",
    )
    assert node_status == "failed"
    kinds = [(r.path.split("/")[1], r.json.get("event", "slack")) for r in env["hooks"].received[2:]]
    assert ("escalate", "refresh_failed") in kinds and ("escalate", "run_failed") in kinds
    assert ("services", "slack") in kinds
    slack_texts = [r.json["text"] for r in env["hooks"].received if r.path.startswith("/services/")]
    assert any("run_failed" in t and failed.run_id in t and "Extract failed." in t for t in slack_texts)
    subjects = [m.message["Subject"] for m in env["smtp"].messages]
    assert f"[sellout][ERROR] run_failed: run {failed.run_id}" in subjects
    assert all(m.authenticated_as == "alerts" for m in env["smtp"].messages)

    outputs = _all_outputs(tmp_path, env, collected, capfd)
    assert len(outputs) > 10
    for where, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked into {where}"


def test_count_rows():

    assert count_rows(pd.DataFrame({"a": [1, 2, 3]})) == 3
    assert count_rows({"rows": 12, "table": "x"}) == 12
    assert count_rows({"rows_loaded": 7}) == 7
    assert count_rows({"rows": True}) is None
    assert count_rows("text") is None


class _Log:
    def info(self, *args, **kwargs) -> None:
        pass


def test_a_nodes_time_runs_from_its_first_input_load_to_its_last_save(monkeypatch):
    """Kedro loads a node's inputs before its before_node_run hook and saves its outputs after after_node_run:
    the node is charged for both, and not for the next node's loads (a clock the test moves, no waiting)."""
    now = [0.0]
    monkeypatch.setattr(observability.time, "monotonic", lambda: now[0])
    hooks = observability.ObservabilityHooks()
    hooks.log, hooks.redactor = _Log(), str
    first = node(lambda a: a, "a", "b", name="first")
    second = node(lambda b: b, "b", "c", name="second")

    def at(seconds, hook, *args, **kwargs):
        now[0] = seconds
        getattr(hooks, hook)(*args, **kwargs)

    at(0.0, "before_dataset_loaded", "a", first)  # first's input: 5 s to load
    at(5.0, "before_node_run", first, None, {"a": 1}, False, "r")
    at(7.0, "after_node_run", first, None, {"a": 1}, {"b": 2}, False, "r")
    at(8.0, "after_dataset_saved", "b", 2, first)  # its output saved
    at(20.0, "before_dataset_loaded", "b", second)  # the next node's load: 12 s, not first's
    at(32.0, "before_node_run", second, None, {"b": 2}, False, "r")
    at(33.0, "after_node_run", second, None, {"b": 2}, {"c": 2}, False, "r")
    at(34.0, "after_dataset_saved", "c", 2, second)
    hooks._outputs_saved()  # the run ended
    assert [(n["node"], n["duration_s"]) for n in hooks.nodes_done] == [("first", 8.0), ("second", 14.0)]
