"""AlertDataset: saving alert requests delivers them through the router and records what went where."""

from __future__ import annotations

import pytest
from support.webhook_sink import WebhookSink, closed_port_url

from sellout.datasets import AlertDataset
from sellout.integrations.alert_events import alert_request
from sellout.integrations.alerting import AlertRouter

RUN = {
    "run_id": "run-1",
    "mode": "incremental",
    "dry_run": False,
    "env": "test",
    "started_at": "2026-01-05T09:00:00",
}


def router_to(url: str | None) -> AlertRouter:
    routes = {s: ["hook"] for s in ("info", "warning", "error", "critical")}
    channels = {"hook": {"type": "webhook", "url": url or ""}}
    return AlertRouter.from_config(
        {"alerts": {"channels": channels, "routes": routes, "retry": {"attempts": 2, "backoff_s": 0.01}}}
    )


def dataset(tmp_path, router: AlertRouter) -> AlertDataset:
    return AlertDataset(filepath=str(tmp_path / "alerts.json"), run_id="run-1", router=router)


def test_saving_requests_sends_each_and_records_the_delivery(tmp_path):
    with WebhookSink() as sink:
        alerts = dataset(tmp_path, router_to(sink.url("/webhook/secret-id")))
        alerts.save(
            [alert_request("run_succeeded", RUN, {"rows_out": 1234}), alert_request("data_late", RUN)]
        )
    assert [r.json["event"] for r in sink.received] == ["run_succeeded", "data_late"]
    assert sink.received[0].json["rows_out"] == 1234 and "Where to look" in sink.received[0].json["message"]
    assert alerts.load() == {
        "run_id": "run-1",
        "sent": True,
        "alerts": [
            {"kind": "run_succeeded", "channels": {"hook": True}},
            {"kind": "data_late", "channels": {"hook": True}},
        ],
    }


@pytest.mark.parametrize("url", [None, "down"])
def test_an_unconfigured_or_down_channel_never_fails_the_save(tmp_path, url):
    alerts = dataset(tmp_path, router_to(closed_port_url() if url else None))
    alerts.save(alert_request("run_failed", RUN, {"error": "boom"}))
    assert alerts.load()["sent"] is False
    assert alerts.load()["alerts"][0]["channels"] == ({"hook": False} if url else {})


def test_a_dry_run_tells_nobody(tmp_path):
    with WebhookSink() as sink:
        alerts = dataset(tmp_path, router_to(sink.url()))
        alerts.save(alert_request("run_succeeded", {**RUN, "dry_run": True}))
    assert sink.received == [] and alerts.load()["sent"] is False
