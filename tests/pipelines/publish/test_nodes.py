"""Publish nodes: Tableau refresh (against the local fake server) and the run-end notification."""

from __future__ import annotations

import logging

import psycopg
import pytest
import tableauserverclient.exponential_backoff as backoff
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from support.smtp_sink import SmtpSink
from support.tableau_fake import FINISH_CANCELLED, FINISH_FAILED, FakeTableauServer
from support.webhook_sink import WebhookSink, closed_port_url

from sellout.ops.alerts import AlertRouter
from sellout.pipelines.publish import create_pipeline
from sellout.pipelines.publish.nodes import TableauRefreshFailed, notify_run_end, refresh_tableau

SECRET = "pat-secret-DO-NOT-LOG-node"
WRITE_STATUS = {"run_id": "run-1", "rows": 1234, "table": "forecast.forecasts"}
RUN = {
    "run_id": "run-1",
    "mode": "incremental",
    "dry_run": False,
    "env": "test",
    "started_at": "2026-01-05T09:00:00",
}
NODES_LOGGER = "sellout.pipelines.publish.nodes"
GATE_PASSED = {"run_id": "run-1", "passed": True, "reason": "model beats baselines", "model_wape": 0.3}
GATE_FAILED = {
    "run_id": "run-1",
    "passed": False,
    "reason": "model WAPE 0.41 is not better than seasonal_naive 0.38 by margin 0.02",
    "model_wape": 0.41,
    "best_baseline": "seasonal_naive",
    "best_baseline_wape": 0.38,
    "last_published_wape": 0.35,
    "margin": 0.02,
}


def router_to(url: str | None = None, smtp: SmtpSink | None = None) -> AlertRouter:
    """Every severity to one JSON webhook (and email when an SMTP sink is given)."""
    channels = {"hook": {"type": "webhook", "url": url or ""}}
    if smtp is not None:
        channels["mail"] = {
            "type": "email",
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "starttls": False,
            "to": "oncall@example.com",
        }
    names = list(channels)
    routes = {s: names for s in ("info", "warning", "error", "critical")}
    return AlertRouter.from_config(
        {"alerts": {"channels": channels, "routes": routes, "retry": {"attempts": 2, "backoff_s": 0.01}}}
    )


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    monkeypatch.setattr(backoff, "ASYNC_POLL_MIN_INTERVAL", 0.02)


@pytest.fixture
def fake():
    with FakeTableauServer(token_secret=SECRET, datasources=[{"name": "Sellout Forecasts"}]) as server:
        yield server


def tableau_settings(fake: FakeTableauServer, **overrides) -> dict:
    return {
        "server_url": fake.url,
        "site": "",
        "token_name": fake.token_name,
        "token_secret": SECRET,
        "items": [{"type": "datasource", "name": "Sellout Forecasts"}],
        "timeout_s": 10,
        **overrides,
    }


@pytest.mark.parametrize(
    "settings", [None, {}, {"server_url": None}, {"server_url": "", "token_secret": "x"}]
)
def test_refresh_is_skipped_with_a_warning_when_tableau_is_not_configured(settings, caplog):
    caplog.set_level(logging.INFO)
    status = refresh_tableau(WRITE_STATUS, None, RUN, settings)
    assert status["status"] == "skipped"
    assert status["run_id"] == "run-1"
    assert status["items"] == []
    assert "TABLEAU_SERVER_URL" in status["reason"]
    [warning] = [r for r in caplog.records if r.name == NODES_LOGGER and r.levelno == logging.WARNING]
    assert warning.getMessage().startswith("Tableau refresh SKIPPED: no Tableau server configured")


def test_configured_without_items_is_skipped_with_a_warning(fake, caplog):
    status = refresh_tableau(WRITE_STATUS, GATE_PASSED, RUN, tableau_settings(fake, items=[]))
    assert status["status"] == "skipped"
    assert "Tableau refresh SKIPPED" in caplog.text
    assert fake.requests == []


def test_dry_run_does_not_touch_tableau(fake):
    status = refresh_tableau(WRITE_STATUS, GATE_PASSED, {**RUN, "dry_run": True}, tableau_settings(fake))
    assert status["status"] == "dry_run"
    assert "Sellout Forecasts" in status["reason"]
    assert fake.requests == []


def test_refresh_succeeds_and_passes_the_forecast_write_through(fake):
    fake.script_refresh("Sellout Forecasts", polls=1)
    with WebhookSink() as sink:
        status = refresh_tableau(
            WRITE_STATUS, GATE_PASSED, RUN, tableau_settings(fake), router_to(sink.url())
        )
    assert status["status"] == "succeeded"
    assert status["quality_gate"]["passed"] is True
    [event] = [r.json for r in sink.received]
    assert event["event"] == "refresh_confirmed" and event["severity"] == "info"
    assert event["tableau"]["items"][0]["job_id"] == next(iter(fake.jobs))
    assert status["run_id"] == "run-1"
    assert status["forecast_rows"] == 1234 and status["forecast_table"] == "forecast.forecasts"
    assert status["tableau_server"] == fake.url
    [item] = status["items"]
    assert item["status"] == "succeeded" and item["job_id"] == next(iter(fake.jobs))
    assert not fake.signed_in


@pytest.mark.parametrize(
    ("finish_code", "expected"), [(FINISH_FAILED, "failed"), (FINISH_CANCELLED, "cancelled")]
)
def test_failed_or_cancelled_refresh_raises_with_the_record(fake, caplog, finish_code, expected):
    caplog.set_level(logging.DEBUG)
    fake.script_refresh("Sellout Forecasts", finish_code=finish_code)
    with WebhookSink() as sink, pytest.raises(TableauRefreshFailed, match=f"1 of 1 item.*{expected}") as info:
        refresh_tableau(WRITE_STATUS, GATE_PASSED, RUN, tableau_settings(fake), router_to(sink.url()))
    [event] = [r.json for r in sink.received]
    assert event["event"] == "refresh_failed" and event["severity"] == "error"
    assert expected in event["error"] and "refresh_tableau" in event["message"]
    assert isinstance(info.value, RuntimeError)
    record = info.value.record
    assert record["status"] == "failed"
    assert record["items"][0]["status"] == expected
    assert record["items"][0]["finish_code"] == finish_code
    assert "Tableau refresh FAILED" in caplog.text
    assert SECRET not in caplog.text and SECRET not in str(info.value)
    assert not fake.signed_in


def test_notify_sends_run_succeeded_with_the_refresh_status():
    refresh_status = {"run_id": "run-1", "status": "skipped", "items": [], "forecast_rows": 1234}
    with WebhookSink() as sink:
        result = notify_run_end(refresh_status, RUN, router_to(sink.url("/webhook/secret-id")))
    assert result == {"run_id": "run-1", "sent": True, "channels": {"hook": True}}
    [received] = sink.received
    event = received.json
    assert event["event"] == "run_succeeded"
    assert event["run_id"] == "run-1"
    assert event["status"] == "succeeded"
    assert event["rows_out"] == 1234
    assert event["tableau"]["status"] == "skipped"
    assert "run run-1" in event["message"] and "Where to look" in event["message"]


@pytest.mark.parametrize("routes", [None, router_to(None)])
def test_notify_without_a_configured_channel_is_skipped_with_info(routes, caplog):
    caplog.set_level(logging.INFO)
    result = notify_run_end({"status": "skipped"}, RUN, routes)
    assert result == {"run_id": "run-1", "sent": False, "channels": {}}
    assert "no configured channel" in caplog.text


def test_notify_with_a_down_webhook_does_not_fail_the_run():
    result = notify_run_end({"status": "succeeded"}, RUN, router_to(closed_port_url()))
    assert result == {"run_id": "run-1", "sent": False, "channels": {"hook": False}}


def test_notify_is_skipped_on_dry_runs():
    with WebhookSink() as sink:
        result = notify_run_end({"status": "dry_run"}, {**RUN, "dry_run": True}, router_to(sink.url()))
    assert result["sent"] is False and sink.received == []


def test_quality_gate_blocks_the_refresh_and_alerts(fake, caplog):
    with WebhookSink() as sink, SmtpSink() as smtp:
        status = refresh_tableau(
            WRITE_STATUS, GATE_FAILED, RUN, tableau_settings(fake), router_to(sink.url(), smtp)
        )
    assert status["status"] == "blocked"
    assert "seasonal_naive 0.38" in status["reason"]
    assert status["quality_gate"]["best_baseline_wape"] == 0.38
    assert status["items"] == []
    assert fake.requests == []  # Tableau was not touched
    [event] = [r.json for r in sink.received]
    assert event["event"] == "quality_gate_blocked" and event["severity"] == "warning"
    [mail] = smtp.messages
    assert mail.message["Subject"] == "[sellout][WARNING] quality_gate_blocked: run run-1"
    assert "seasonal_naive 0.38" in mail.body
    assert "Tableau refresh BLOCKED" in caplog.text


def test_a_malformed_quality_gate_is_a_clear_error(fake):
    with pytest.raises(ValueError, match="boolean 'passed'.*keys run_id, ok"):
        refresh_tableau(WRITE_STATUS, {"run_id": "run-1", "ok": True}, RUN, tableau_settings(fake))


def _refresh_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select item_key, job_id, status, finish_code, started_at is not null, completed_at is not null "
            "from ops.tableau_refreshes where run_id = 'run-1'"
        ).fetchall()


def test_confirmation_is_recorded_and_a_retried_task_does_not_refresh_again(fake, db_url):
    fake.script_refresh("Sellout Forecasts", polls=1)
    first = refresh_tableau(WRITE_STATUS, GATE_PASSED, RUN, tableau_settings(fake), None, {"url": db_url})
    [job_id] = list(fake.jobs)
    assert _refresh_rows(db_url) == [
        ("datasource:name=Sellout Forecasts", job_id, "succeeded", 0, True, True)
    ]

    again = refresh_tableau(WRITE_STATUS, GATE_PASSED, RUN, tableau_settings(fake), None, {"url": db_url})
    assert len(fake.calls("POST", r"/refresh$")) == 1  # confirmed already: not refreshed twice
    assert again["items"][0]["job_id"] == first["items"][0]["job_id"] and again["items"][0]["reused"] is True
    assert len(_refresh_rows(db_url)) == 1


def test_a_retried_task_follows_the_job_its_first_attempt_started(fake, db_url):
    fake.script_refresh("Sellout Forecasts", polls=10_000)  # the first attempt times out, the job runs on
    with pytest.raises(TableauRefreshFailed, match="timeout"):
        refresh_tableau(WRITE_STATUS, GATE_PASSED, RUN, tableau_settings(fake, timeout_s=0.2), None, db_url)
    [job] = fake.jobs.values()
    assert _refresh_rows(db_url)[0][1:3] == (job.id, "timeout")

    job.polls_left = 1  # the job finishes while the task is retried
    status = refresh_tableau(WRITE_STATUS, GATE_PASSED, RUN, tableau_settings(fake), None, db_url)
    assert status["status"] == "succeeded"
    assert len(fake.calls("POST", r"/refresh$")) == 1
    assert status["items"][0]["job_id"] == job.id and status["items"][0]["followed_existing_job"] is True
    assert _refresh_rows(db_url)[0][1:4] == (job.id, "succeeded", 0)


def test_pipeline_shape():
    pipeline = create_pipeline()
    nodes = {n.name: n for n in pipeline.nodes}
    assert set(nodes) == {"refresh_tableau", "notify_run_end"}
    assert nodes["refresh_tableau"].inputs == [
        "forecast_write_status",
        "quality_gate_status",
        "run_context",
        "tableau_settings",
        "alert_routes",
        "ops_db",
    ]
    assert nodes["refresh_tableau"].outputs == ["tableau_refresh_status"]
    assert nodes["notify_run_end"].inputs == ["tableau_refresh_status", "run_context", "alert_routes"]
    assert nodes["notify_run_end"].outputs == ["notification_status"]


def test_pipeline_runs_end_to_end_with_kedro(fake):
    with WebhookSink() as sink:
        catalog = DataCatalog(
            {
                "forecast_write_status": MemoryDataset(WRITE_STATUS),
                "quality_gate_status": MemoryDataset(GATE_PASSED),
                "run_context": MemoryDataset(RUN),
                "tableau_settings": MemoryDataset(tableau_settings(fake)),
                "alert_routes": MemoryDataset(router_to(sink.url())),
                "ops_db": MemoryDataset(None),
                "tableau_refresh_status": MemoryDataset(),
                "notification_status": MemoryDataset(),
            }
        )
        SequentialRunner().run(create_pipeline(), catalog)
    assert catalog["notification_status"].load() == {
        "run_id": "run-1",
        "sent": True,
        "channels": {"hook": True},
    }
    # the intermediate tableau_refresh_status MemoryDataset is released once consumed: read it from the event
    assert [r.json["event"] for r in sink.received] == ["refresh_confirmed", "run_succeeded"]
    refresh_status = sink.received[1].json["tableau"]
    assert refresh_status["status"] == "succeeded"
    assert refresh_status["items"][0]["status"] == "succeeded"
