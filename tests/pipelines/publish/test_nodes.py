"""Publish nodes: the refresh request, the alerts its outcome calls for, the run-end notification; and the stage
end to end with Kedro, the real refresh dataset and the fake Tableau server."""

from __future__ import annotations

import pytest
import tableauserverclient.exponential_backoff as backoff
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from support.tableau_fake import FakeTableauServer
from support.webhook_sink import WebhookSink

from sellout.datasets import AlertDataset, TableauRefreshDataset
from sellout.integrations.alerting import AlertRouter
from sellout.pipelines.publish import create_pipeline
from sellout.pipelines.publish.nodes import (
    alert_on_refresh,
    notify_run_end,
    refresh_tableau,
)

WRITE_STATUS = {"run_id": "run-1", "rows": 1234, "table": "forecast.forecasts"}
RUN = {
    "run_id": "run-1",
    "mode": "incremental",
    "dry_run": False,
    "env": "test",
    "started_at": "2026-01-05T09:00:00",
}
GATE_PASSED = {"run_id": "run-1", "passed": True, "reason": "model beats baselines", "model_wape": 0.3}
GATE_FAILED = {
    "run_id": "run-1",
    "passed": False,
    "reason": "model WAPE 0.41 is not better than seasonal_naive 0.38 by margin 0.02",
    "model_wape": 0.41,
    "best_baseline": "seasonal_naive",
    "best_baseline_wape": 0.38,
    "margin": 0.02,
}
SUCCEEDED = {
    "run_id": "run-1",
    "status": "succeeded",
    "reason": None,
    "forecast_rows": 1234,
    "items": [
        {
            "item_type": "datasource",
            "item_name": "F",
            "item_id": "d1",
            "job_id": "j1",
            "status": "succeeded",
            "error": None,
        }
    ],
}


def test_the_request_publishes_unless_the_gate_blocked():
    request = refresh_tableau(WRITE_STATUS, GATE_PASSED, RUN)
    assert request["publish"] is True and request["reason"] is None
    assert request["forecast_rows"] == 1234 and request["quality_gate"]["passed"] is True
    blocked = refresh_tableau(WRITE_STATUS, GATE_FAILED, RUN)
    assert blocked["publish"] is False and "seasonal_naive 0.38" in blocked["reason"]
    assert blocked["quality_gate"]["best_baseline_wape"] == 0.38
    assert refresh_tableau(WRITE_STATUS, None, RUN)["publish"] is True


def test_a_malformed_quality_gate_is_a_clear_error():
    with pytest.raises(ValueError, match="boolean 'passed'.*keys run_id, ok"):
        refresh_tableau(WRITE_STATUS, {"run_id": "run-1", "ok": True}, RUN)


@pytest.mark.parametrize(
    ("status", "kinds"),
    [
        (SUCCEEDED, ["refresh_confirmed"]),
        (
            {
                "run_id": "run-1",
                "status": "blocked",
                "reason": "quality gate blocked the publication: x",
                "items": [],
            },
            ["quality_gate_blocked"],
        ),
        ({"run_id": "run-1", "status": "skipped", "reason": "no Tableau server configured", "items": []}, []),
    ],
)
def test_each_outcome_calls_for_its_alert(status, kinds):
    alerts = alert_on_refresh(status, RUN)
    assert [a["kind"] for a in alerts] == kinds
    assert all(a["run_context"]["run_id"] == "run-1" for a in alerts)


def test_the_run_end_notification_carries_the_refresh():
    request = notify_run_end(SUCCEEDED, {}, RUN)
    assert request["kind"] == "run_succeeded" and request["summary"]["rows_out"] == 1234
    assert request["summary"]["tableau"]["items"][0]["job_id"] == "j1"


def test_pipeline_shape():
    nodes = {n.name: n for n in create_pipeline().nodes}
    assert set(nodes) == {"refresh_tableau", "alert_on_refresh", "notify_run_end"}
    assert nodes["refresh_tableau"].inputs == ["forecast_write_status", "quality_gate_status", "run_context"]
    assert nodes["refresh_tableau"].outputs == ["tableau_refresh_status"]
    assert nodes["notify_run_end"].inputs == ["tableau_refresh_status", "publish_alerts", "run_context"]
    assert nodes["notify_run_end"].outputs == ["notification_status"]


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(backoff, "ASYNC_POLL_MIN_INTERVAL", 0.02)
    with FakeTableauServer(
        token_secret="pat-secret-x1", datasources=[{"name": "Sellout Forecasts"}]
    ) as server:
        yield server


def test_the_stage_runs_end_to_end_with_kedro(tmp_path, fake):
    fake.script_refresh("Sellout Forecasts", polls=1)
    tableau = {
        "server_url": fake.url,
        "items": [{"type": "datasource", "name": "Sellout Forecasts"}],
        "credentials": {"token_name": fake.token_name, "token_secret": "pat-secret-x1"},
    }
    with WebhookSink() as sink:
        routes = {s: ["hook"] for s in ("info", "warning", "error", "critical")}
        router = AlertRouter.from_config(
            {"alerts": {"channels": {"hook": {"type": "webhook", "url": sink.url()}}, "routes": routes}}
        )
        catalog = DataCatalog(
            {
                "forecast_write_status": MemoryDataset(WRITE_STATUS),
                "quality_gate_status": MemoryDataset(GATE_PASSED),
                "run_context": MemoryDataset(RUN),
                "tableau_refresh_status": TableauRefreshDataset(
                    str(tmp_path / "refresh.json"), "run-1", tableau
                ),
                "publish_alerts": AlertDataset(str(tmp_path / "publish.json"), "run-1", router=router),
                "notification_status": AlertDataset(str(tmp_path / "end.json"), "run-1", router=router),
            }
        )
        SequentialRunner().run(create_pipeline(), catalog)
    assert [r.json["event"] for r in sink.received] == ["refresh_confirmed", "run_succeeded"]
    assert sink.received[1].json["tableau"]["items"][0]["status"] == "succeeded"
    assert catalog.load("notification_status")["sent"] is True
