"""The alert router: routing by severity to a Slack-like sink, an SMTP sink and a JSON webhook."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support.smtp_sink import SmtpSink
from support.webhook_sink import WebhookSink, closed_port_url

from sellout.config.schema import ConfigError
from sellout.integrations.alerting import AlertRouter
from sellout.ops.alerts import load_router, send_alert

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SMTP_SECRET = "smtp-pass-DO-NOT-LOG-41"
SLACK_PATH = "/services/T00/B00/slack-DO-NOT-LOG"


def config(slack: str, hook: str, smtp: SmtpSink | None, **extra) -> dict:
    email = {"type": "email", "smtp_host": "", "to": ""}
    if smtp is not None:
        email = {
            "type": "email",
            "smtp_host": smtp.host,
            "smtp_port": str(smtp.port),
            "starttls": "false",
            "username": "alerts",
            "password": SMTP_SECRET,
            "sender": "sellout@example.com",
            "to": "oncall@example.com, lead@example.com",
        }
    return {
        "alerts": {
            "retry": {"attempts": 3, "backoff_s": 0.01, "timeout_s": 2},
            "channels": {
                "team_slack": {"type": "slack", "url": slack},
                "n8n": {"type": "webhook", "url": hook},
                "oncall_email": email,
            },
            "routes": {
                "info": ["n8n"],
                "warning": ["n8n", "team_slack"],
                "error": ["n8n", "team_slack", "oncall_email"],
            },
            **extra,
        }
    }


FAILED_SUMMARY = {
    "pipeline": "__default__",
    "duration_s": 93.25,
    "rows_in": 12000,
    "rows_out": 3200,
    "failed_node": "dbt_test",
    "error": "DbtTestFailedError: 2 of 40 test(s) failed\nnot_null_stg_sellout_units\nunique_dim_store\nmore\nmore\nmore",
}


def test_each_severity_goes_to_its_channels(caplog):
    caplog.set_level(logging.INFO)
    with WebhookSink() as sink, SmtpSink(username="alerts", password=SMTP_SECRET) as smtp:
        router = AlertRouter.from_config(config(sink.url(SLACK_PATH), sink.url("/webhook/events"), smtp))
        info = router.send("run_succeeded", run_id="r-1", summary={"rows_out": 10})
        warning = router.send("data_late", run_id="r-2", summary={"reason": "no file from retailer_a"})
        error = router.send("run_failed", run_id="r-3", summary=FAILED_SUMMARY, run_context={"env": "prod"})
    assert info == {"n8n": True}
    assert warning == {"n8n": True, "team_slack": True}
    assert error == {"n8n": True, "team_slack": True, "oncall_email": True}
    paths = [r.path for r in sink.received]
    assert paths.count("/webhook/events") == 3 and paths.count(SLACK_PATH) == 2

    failed_event = [r.json for r in sink.received if r.path == "/webhook/events"][-1]
    assert failed_event["event"] == "run_failed" and failed_event["severity"] == "error"
    assert failed_event["run_id"] == "r-3" and failed_event["failed_node"] == "dbt_test"
    assert failed_event["error"].splitlines()[:2] == [
        "DbtTestFailedError: 2 of 40 test(s) failed",
        "not_null_stg_sellout_units",
    ]
    assert len(failed_event["error"].splitlines()) == 5  # only the first lines
    slack = sink.received[-1].json["text"]
    for expected in (
        "run r-3",
        "pipeline __default__ (env prod)",
        "93.2 s",
        "12,000 in, 3,200 out",
        "dbt_test",
    ):
        assert expected in slack
    assert "sellout status --run-id r-3" in slack

    [mail] = smtp.messages
    assert mail.envelope_to == ["oncall@example.com", "lead@example.com"]
    assert mail.message["Subject"] == "[sellout][ERROR] run_failed: run r-3"
    assert mail.authenticated_as == "alerts" and "not_null_stg_sellout_units" in mail.body
    assert SMTP_SECRET not in caplog.text and "DO-NOT-LOG" not in caplog.text


def test_a_down_notifier_is_retried_logged_and_never_raises(caplog):
    caplog.set_level(logging.INFO)
    with WebhookSink(statuses=[503, 200]) as sink, SmtpSink(fail_connections=1) as smtp:
        routes = config(closed_port_url(SLACK_PATH), sink.url("/webhook/events"), smtp)
        routes["alerts"]["channels"]["oncall_email"].update(username="", password="")
        delivered = AlertRouter.from_config(routes).send("run_failed", run_id="r-9", summary=FAILED_SUMMARY)
    assert delivered == {"n8n": True, "team_slack": False, "oncall_email": True}
    assert len(sink.received) == 2  # 503 then 200
    assert smtp.connections == 2 and len(smtp.messages) == 1  # dropped once, then delivered
    assert "NOT sent to webhook http://127.0.0.1" in caplog.text
    assert "DO-NOT-LOG" not in caplog.text


def test_wrong_smtp_password_is_not_retried_and_not_logged(caplog):
    with SmtpSink(username="alerts", password="the-right-one") as smtp:
        router = AlertRouter.from_config(config("", "", smtp))
        assert router.send("dbt_test_failed", run_id="r", summary={}) == {"oncall_email": False}
    assert smtp.connections == 1 and smtp.auth_failures >= 1 and smtp.messages == []  # not retried
    assert "authentication failed" in caplog.text and SMTP_SECRET not in caplog.text


def test_unconfigured_channels_are_skipped_quietly(caplog):
    caplog.set_level(logging.INFO)
    router = AlertRouter.from_config(config("", "", None))
    assert router.send("run_failed", run_id="r", summary={}) == {}
    assert "not configured" in caplog.text
    assert AlertRouter().send("run_failed", run_id="r", summary={}) == {}


def test_secrets_in_summaries_are_redacted():
    with WebhookSink() as sink:
        url = sink.url("/webhook/hook-token-DO-NOT-LOG")
        router = AlertRouter.from_config(
            config("", url, None), {"tableau": {"token_secret": "tableau-DO-NOT-LOG"}}
        )
        router.send("run_failed", run_id="r", summary={"error": "sign-in with tableau-DO-NOT-LOG failed"})
    assert "DO-NOT-LOG" not in sink.received[0].body.decode()
    assert "sign-in with *** failed" in sink.received[0].json["error"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"channels": {"x": {"type": "pager"}}},
            r"alerts.channels.x.type: Input should be 'slack', 'webhook' or 'email' \(got 'pager'\)",
        ),
        ({"routes": {"error": ["nope"]}}, r"alerts: routes.error names channel\(s\) \['nope'\]"),
        (
            {"routes": {"loud": []}},
            r"alerts.routes.loud.\[key\]: Input should be 'info', 'warning', 'error' or 'critical'",
        ),
        (
            {"severities": {"run_failed": "bad"}},
            r"alerts.severities.run_failed: Input should be 'info'.* \(got 'bad'\)",
        ),
        (
            {"channels": {"x": {"type": "slack", "credentials": "slack"}}},
            r"names 'slack', which credentials.yml",
        ),
    ],
)
def test_config_errors_name_the_key(change, message):
    raw = config("", "", None)
    raw["alerts"].update(change)
    with pytest.raises(ConfigError, match=message):
        AlertRouter.from_config(raw)


def test_channel_secrets_may_come_from_credentials():
    raw = config("", "", None)
    raw["alerts"]["channels"]["team_slack"] = {"type": "slack", "credentials": "slack"}
    router = AlertRouter.from_config(raw, {"slack": {"webhook_url": "https://hooks.example.com/T/B/x"}})
    assert router.channels["team_slack"].configured
    assert "/T/B/x" in router.redactor.secrets


def test_project_config_routes_every_event_kind():
    router = load_router(project_path=PROJECT_ROOT)
    kinds = (
        "run_succeeded",
        "run_failed",
        "data_late",
        "dbt_test_failed",
        "quality_gate_blocked",
        "refresh_confirmed",
        "forecast_late",
    )
    for kind in kinds:
        assert router.channels_for(kind), kind
    assert router.severity("forecast_late") == "critical"
    assert {name for name, _ in router.channels_for("forecast_late")} >= {"oncall_email", "oncall_slack"}


def test_send_alert_reads_the_project_config_and_never_raises(monkeypatch, tmp_path):
    with WebhookSink() as sink:
        monkeypatch.setenv("NOTIFY_WEBHOOK_URL", sink.url("/webhook/events"))
        monkeypatch.setenv("SLACK_WEBHOOK_URL", sink.url(SLACK_PATH))
        monkeypatch.delenv("SMTP_HOST", raising=False)
        monkeypatch.delenv("SELLOUT_DB_URL", raising=False)
        result = send_alert(
            "data_late",
            run_id="2026-W48",
            summary={"reason": "retailer_a file missing"},
            project_path=PROJECT_ROOT,
        )
        assert result == {"n8n": True, "team_slack": True}
        # a project without conf/ is logged, not raised
        assert send_alert("run_failed", run_id="x", summary={}, project_path=tmp_path) == {}
    assert sorted(r.path for r in sink.received) == sorted(["/webhook/events", SLACK_PATH])
    assert sink.received[0].json["run_id"] == "2026-W48"
