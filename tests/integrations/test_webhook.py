"""Webhook delivery against a local HTTP sink, and the run event."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from support.webhook_sink import WebhookSink, closed_port_url

from sellout.config.secrets import safe_url
from sellout.integrations.alert_events import build_run_event
from sellout.integrations.webhook import send_webhook

SECRET_PATH = "/hooks/T0KEN-s3cret-DO-NOT-LOG"
EVENT = {"event": "run_succeeded", "run_id": "r-1", "rows_out": 12}


def test_webhook_sink_receives_the_json_event(caplog):
    caplog.set_level(logging.INFO)
    with WebhookSink() as sink:
        assert send_webhook(sink.url(SECRET_PATH), EVENT) is True
    [received] = sink.received
    assert received.path == SECRET_PATH
    assert received.headers["content-type"] == "application/json"
    assert received.json == EVENT
    assert "sent to webhook http://127.0.0.1:" in caplog.text
    assert "s3cret" not in caplog.text


def test_retries_transient_errors_then_succeeds():
    with WebhookSink(statuses=[503, 429, 200]) as sink:
        assert send_webhook(sink.url(), EVENT, attempts=3, backoff_s=0.01) is True
    assert len(sink.received) == 3


def test_client_errors_are_not_retried(caplog):
    with WebhookSink(statuses=[404]) as sink:
        assert send_webhook(sink.url(SECRET_PATH), EVENT, attempts=3, backoff_s=0.01) is False
    assert len(sink.received) == 1
    assert "HTTP 404" in caplog.text


def test_down_webhook_returns_false_and_logs_only_scheme_and_host(caplog):
    caplog.set_level(logging.DEBUG, logger="sellout")
    url = closed_port_url(SECRET_PATH + "?token=also-secret")
    assert send_webhook(url, EVENT, attempts=2, backoff_s=0.01, timeout_s=1) is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert safe_url(url) in warnings[0].getMessage()
    assert "ConnectionError" in warnings[0].getMessage()
    assert "s3cret" not in caplog.text and "also-secret" not in caplog.text


def test_slow_webhook_times_out_and_returns_false():
    with WebhookSink(delay_s=1.0) as sink:
        assert send_webhook(sink.url(), EVENT, attempts=1, timeout_s=0.2) is False


def test_event_that_is_not_json_is_sent_with_strings():
    with WebhookSink() as sink:
        assert send_webhook(sink.url(), {"when": datetime(2026, 1, 5, tzinfo=UTC)}) is True
    assert sink.received[0].json == {"when": "2026-01-05 00:00:00+00:00"}


def test_safe_url():
    assert safe_url("https://hooks.example.com/services/T0/B0/XYZ?x=1") == "https://hooks.example.com"
    assert safe_url("http://127.0.0.1:5678/webhook/abc") == "http://127.0.0.1:5678"
    assert safe_url("https://user:pw@host.example/x") == "https://host.example"
    assert safe_url(None) == "?://?"


def test_build_run_event_succeeded():
    started = (datetime.now(UTC) - timedelta(seconds=90)).isoformat(timespec="seconds")
    context = {
        "run_id": "r-42",
        "mode": "incremental",
        "dry_run": False,
        "env": "local",
        "started_at": started,
    }
    event = build_run_event(
        "run_succeeded", context, {"rows_in": 1000, "rows_out": "250", "tableau": {"status": "succeeded"}}
    )
    assert event["event"] == "run_succeeded"
    assert event["run_id"] == "r-42"
    assert event["status"] == "succeeded"
    assert event["pipeline"] == "__default__"
    assert event["rows_in"] == 1000 and event["rows_out"] == 250
    assert 89 <= event["duration_s"] < 120
    assert event["tableau"] == {"status": "succeeded"}
    assert "error" not in event


def test_build_run_event_failed_keeps_only_the_first_error_lines():
    error = RuntimeError("Tableau refresh failed\n" + "\n".join(f"line {i}" for i in range(50)))
    event = build_run_event(
        "run_failed", {"run_id": "r-1"}, {"error": error, "pipeline": "publish", "duration_s": 3.5}
    )
    assert event["status"] == "failed"
    assert event["pipeline"] == "publish"
    assert event["duration_s"] == 3.5
    assert event["error"].splitlines() == [
        "RuntimeError: Tableau refresh failed",
        "line 0",
        "line 1",
        "line 2",
        "line 3",
    ]
    assert "rows_in" not in event and "rows_out" not in event


def test_build_run_event_without_context():
    event = build_run_event("refresh_confirmed", None, None)
    assert event["status"] == "succeeded"
    assert event["run_id"] is None and event["duration_s"] is None
