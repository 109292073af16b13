"""Publish nodes: Tableau refresh (against the local fake server) and the run-end notification."""

from __future__ import annotations

import logging

import pytest
import tableauserverclient.exponential_backoff as backoff
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from support.tableau_fake import FINISH_CANCELLED, FINISH_FAILED, FakeTableauServer
from support.webhook_sink import WebhookSink, closed_port_url

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
    status = refresh_tableau(WRITE_STATUS, RUN, settings)
    assert status["status"] == "skipped"
    assert status["run_id"] == "run-1"
    assert status["items"] == []
    assert "TABLEAU_SERVER_URL" in status["reason"]
    [warning] = [r for r in caplog.records if r.name == NODES_LOGGER and r.levelno == logging.WARNING]
    assert warning.getMessage().startswith("Tableau refresh SKIPPED: no Tableau server configured")


def test_configured_without_items_is_skipped_with_a_warning(fake, caplog):
    status = refresh_tableau(WRITE_STATUS, RUN, tableau_settings(fake, items=[]))
    assert status["status"] == "skipped"
    assert "Tableau refresh SKIPPED" in caplog.text
    assert fake.requests == []


def test_dry_run_does_not_touch_tableau(fake):
    status = refresh_tableau(WRITE_STATUS, {**RUN, "dry_run": True}, tableau_settings(fake))
    assert status["status"] == "dry_run"
    assert "Sellout Forecasts" in status["reason"]
    assert fake.requests == []


def test_refresh_succeeds_and_passes_the_forecast_write_through(fake):
    fake.script_refresh("Sellout Forecasts", polls=1)
    status = refresh_tableau(WRITE_STATUS, RUN, tableau_settings(fake))
    assert status["status"] == "succeeded"
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
    with pytest.raises(TableauRefreshFailed, match=f"1 of 1 item.*{expected}") as info:
        refresh_tableau(WRITE_STATUS, RUN, tableau_settings(fake))
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
        result = notify_run_end(refresh_status, RUN, {"webhook_url": sink.url("/webhook/secret-id")})
    assert result == {"run_id": "run-1", "sent": True, "channel": "webhook"}
    [received] = sink.received
    event = received.json
    assert event["event"] == "run_succeeded"
    assert event["run_id"] == "run-1"
    assert event["status"] == "succeeded"
    assert event["rows_out"] == 1234
    assert event["tableau"]["status"] == "skipped"


@pytest.mark.parametrize("settings", [None, {}, {"webhook_url": None}, {"webhook_url": "  "}])
def test_notify_without_webhook_is_skipped_with_info(settings, caplog):
    caplog.set_level(logging.INFO)
    result = notify_run_end({"status": "skipped"}, RUN, settings)
    assert result == {"run_id": "run-1", "sent": False, "channel": None}
    [record] = [r for r in caplog.records if r.name == NODES_LOGGER]
    assert record.levelno == logging.INFO and "no webhook configured" in record.getMessage()


def test_notify_with_a_down_webhook_does_not_fail_the_run():
    settings = {"webhook_url": closed_port_url(), "attempts": 1, "timeout_s": 1}
    result = notify_run_end({"status": "succeeded"}, RUN, settings)
    assert result == {"run_id": "run-1", "sent": False, "channel": "webhook"}


def test_notify_is_skipped_on_dry_runs():
    with WebhookSink() as sink:
        result = notify_run_end({"status": "dry_run"}, {**RUN, "dry_run": True}, {"webhook_url": sink.url()})
    assert result["sent"] is False and sink.received == []


def test_pipeline_shape():
    pipeline = create_pipeline()
    nodes = {n.name: n for n in pipeline.nodes}
    assert set(nodes) == {"refresh_tableau", "notify_run_end"}
    assert nodes["refresh_tableau"].inputs == ["forecast_write_status", "run_context", "tableau_settings"]
    assert nodes["refresh_tableau"].outputs == ["tableau_refresh_status"]
    assert nodes["notify_run_end"].inputs == ["tableau_refresh_status", "run_context", "notify_settings"]
    assert nodes["notify_run_end"].outputs == ["notification_status"]


def test_pipeline_runs_end_to_end_with_kedro(fake):
    with WebhookSink() as sink:
        catalog = DataCatalog(
            {
                "forecast_write_status": MemoryDataset(WRITE_STATUS),
                "run_context": MemoryDataset(RUN),
                "tableau_settings": MemoryDataset(tableau_settings(fake)),
                "notify_settings": MemoryDataset({"webhook_url": sink.url()}),
                "tableau_refresh_status": MemoryDataset(),
                "notification_status": MemoryDataset(),
            }
        )
        SequentialRunner().run(create_pipeline(), catalog)
    assert catalog["notification_status"].load() == {"run_id": "run-1", "sent": True, "channel": "webhook"}
    # the intermediate tableau_refresh_status MemoryDataset is released once consumed: read it from the event
    refresh_status = sink.received[0].json["tableau"]
    assert refresh_status["status"] == "succeeded"
    assert refresh_status["items"][0]["status"] == "succeeded"
