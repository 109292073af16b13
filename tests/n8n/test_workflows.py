"""The n8n workflows in airflow/n8n/workflows, imported, published and run by the pinned n8n, with exactly the
environment the NAS stack gives the n8n container: the n8n service's ``environment:`` of airflow/docker-compose.yml,
interpolated from an airflow/.env made as the runbook says (airflow/.env.example, blanks filled in).

The pipeline's own code talks to them: the Tableau refresh through n8n (``tableau.via: n8n``) against
the fake Tableau server, and the pipeline's events through ``AlertRouter`` to the stakeholder-notification and
escalation webhooks, which post to a local Slack-like sink and mail through a local SMTP server.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from kedro.io.core import DatasetError
from n8n.compose_env import read_env_file, service_environment
from n8n.n8n_stack import CONTAINER_SETTINGS, PROJECT_ROOT, WORKFLOWS, N8n, deploy
from support.smtp_sink import SmtpSink
from support.tableau_fake import FINISH_FAILED, FakeTableauServer
from support.webhook_sink import WebhookSink

from sellout.datasets import TableauRefreshDataset
from sellout.datasets.tableau_refresh import TableauRefreshFailed
from sellout.integrations.alerting import AlertRouter
from sellout.pipelines.publish.nodes import refresh_tableau

TOKEN_SECRET = "n8n-tableau-pat-DO-NOT-LOG"
SMTP_PASSWORD = "n8n-smtp-DO-NOT-LOG"
RUN = {"run_id": "2026-W48", "mode": "incremental", "dry_run": False, "env": "test", "started_at": None}
COMPOSE = PROJECT_ROOT / "airflow" / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / "airflow" / ".env.example"


def nas_n8n_environment(values: dict[str, str]) -> dict[str, str]:
    """The n8n container's environment on the NAS: airflow/.env.example with ``values`` filled in, interpolated
    into the n8n service of airflow/docker-compose.yml as docker compose does."""
    dotenv = {**read_env_file(ENV_EXAMPLE), **values}
    return service_environment(COMPOSE, "n8n", dotenv)


def test_workflow_files_have_what_import_and_publish_need():
    files = sorted(WORKFLOWS.glob("*.json"))
    assert len(files) == 3
    ids, paths = set(), set()
    for path in files:
        workflow = json.loads(path.read_text())
        assert workflow["id"] not in ids and len(workflow["id"]) == 16
        ids.add(workflow["id"])
        names = {node["name"] for node in workflow["nodes"]}
        for source, outputs in workflow["connections"].items():
            assert source in names
            assert {c["node"] for branch in outputs["main"] for c in branch} <= names
        [hook] = [n for n in workflow["nodes"] if n["type"] == "n8n-nodes-base.webhook"]
        assert hook["webhookId"] and hook["parameters"]["path"].startswith("sellout/")
        paths.add(hook["parameters"]["path"])
        assert "DO-NOT-LOG" not in path.read_text() and "password" not in path.read_text().lower()
    assert paths == {"sellout/tableau-refresh", "sellout/events", "sellout/escalate"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """n8n with the workflows, the fake Tableau server, a Slack-like sink and an SMTP server."""
    home = tmp_path_factory.mktemp("n8n")
    with (
        FakeTableauServer(token_name="sellout-n8n", token_secret=TOKEN_SECRET, site="Sellout") as tableau,
        WebhookSink() as slack,
        SmtpSink(username="n8n", password=SMTP_PASSWORD) as smtp,
    ):
        tableau.add_item("datasource", "sellout_forecasts")
        tableau.add_item("workbook", "Demand Planning")
        environment = nas_n8n_environment(
            {
                "N8N_ENCRYPTION_KEY": secrets.token_urlsafe(24),
                "TABLEAU_SERVER_URL": tableau.url,
                "TABLEAU_SITE": "Sellout",
                "TABLEAU_TOKEN_NAME": "sellout-n8n",
                "TABLEAU_TOKEN_SECRET": TOKEN_SECRET,
                "STAKEHOLDER_SLACK_WEBHOOK_URL": slack.url("/stakeholders/T0KEN"),
                "STAKEHOLDER_EMAIL_TO": "planning@example.com",
                "TEAM_SLACK_WEBHOOK_URL": slack.url("/team/T0KEN"),
                "ONCALL_SLACK_WEBHOOK_URL": slack.url("/oncall/T0KEN"),
                "ONCALL_EMAIL_TO": "oncall@example.com",
                "ALERT_EMAIL_FROM": "sellout@example.com",
            }
        )
        n8n = N8n(home, environment)
        # Every setting is the compose file's, but what only a container runtime provides.
        not_from_compose = {k for k, v in n8n.env.items() if k.startswith("N8N_") and environment.get(k) != v}
        assert not_from_compose <= set(CONTAINER_SETTINGS), not_from_compose
        assert all(n8n.env[k] == v for k, v in environment.items() if k not in CONTAINER_SETTINGS)
        started = time.monotonic()
        try:
            deploy(n8n, {"user": "n8n", "password": SMTP_PASSWORD, "host": smtp.host, "port": smtp.port})
            print(f"n8n imported, published and started in {time.monotonic() - started:.1f}s")
            yield {"n8n": n8n, "tableau": tableau, "slack": slack, "smtp": smtp}
        finally:
            n8n.stop()


def settings(stack, **overrides) -> dict:
    return {
        "server_url": stack["tableau"].url,
        "site": "Sellout",
        "via": "n8n",
        "n8n_webhook_url": stack["n8n"].url("sellout/tableau-refresh"),
        "timeout_s": 30,
        "backoff_s": 0.2,
        "items": [{"type": "datasource", "name": "sellout_forecasts"}],
        **overrides,
    }


def refresh_through(tmp_path, tableau: dict, write_status: dict) -> dict:
    """The publish node's request, saved to the Tableau refresh dataset: the outcome it records."""
    dataset = TableauRefreshDataset(str(tmp_path / "refresh.json"), RUN["run_id"], tableau)
    dataset.save(refresh_tableau(write_status, None, RUN))
    return dataset.load()


def wait_for(condition, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for n8n")


@pytest.mark.n8n
def test_refresh_through_n8n_is_confirmed(stack, tmp_path):
    tableau = stack["tableau"]
    tableau.script_refresh("sellout_forecasts", polls=2)
    tableau.fail_next("POST", r"/refresh$", [503])  # transient: the workflow retries
    jobs_before = set(tableau.jobs)

    status = refresh_through(tmp_path, settings(stack), {"rows": 10, "table": "forecast.forecasts"})

    [job_id] = set(tableau.jobs) - jobs_before
    [item] = status["items"]
    assert status["status"] == "succeeded" and status["via"] == "n8n"
    assert item["job_id"] == job_id and item["finish_code"] == 0 and item["status"] == "succeeded"
    assert item["item_id"] == tableau.item("sellout_forecasts").id
    assert item["started_at"] and item["completed_at"]
    signin = tableau.calls("POST", r"/auth/signin$")[-1]
    assert f'personalAccessTokenSecret="{TOKEN_SECRET}"' in signin.body  # the token lives in n8n
    assert tableau.calls("POST", r"/auth/signout$") and not tableau.signed_in


@pytest.mark.n8n
def test_an_already_queued_refresh_is_followed_not_repeated(stack, tmp_path):
    tableau = stack["tableau"]
    queued = tableau.already_queued("Demand Planning", polls=1)
    posts_before = len(tableau.calls("POST", r"/refresh$"))

    status = refresh_through(
        tmp_path, settings(stack, items=[{"type": "workbook", "name": "Demand Planning"}]), {"rows": 10}
    )
    [item] = status["items"]
    assert item["job_id"] == queued.id and item["followed_existing_job"] is True
    assert len(tableau.calls("POST", r"/refresh$")) == posts_before + 1
    tableau.scenarios.pop(tableau.item("Demand Planning").id)


@pytest.mark.n8n
def test_a_failed_refresh_through_n8n_fails_with_the_notes(stack, tmp_path):
    stack["tableau"].script_refresh(
        "sellout_forecasts", finish_code=FINISH_FAILED, notes="Extract too large."
    )
    # Kedro's save wraps the dataset's error: the node fails with the refresh's own failure as the cause.
    with pytest.raises(DatasetError, match="Extract too large.") as failure:
        refresh_through(tmp_path, settings(stack), {"rows": 10})
    assert isinstance(failure.value.__cause__, TableauRefreshFailed)
    stack["tableau"].script_refresh("sellout_forecasts")


@pytest.mark.n8n
def test_events_reach_stakeholders_and_failures_escalate(stack):
    slack, smtp = stack["slack"], stack["smtp"]
    router = AlertRouter.from_config(
        {
            "alerts": {
                "channels": {
                    "n8n": {"type": "webhook", "url": stack["n8n"].url("sellout/events")},
                    "n8n_escalation": {"type": "webhook", "url": stack["n8n"].url("sellout/escalate")},
                },
                "routes": {
                    "info": ["n8n"],
                    "warning": ["n8n"],
                    "error": ["n8n_escalation"],
                    "critical": ["n8n_escalation"],
                },
            }
        }
    )

    def slack_to(prefix: str) -> list[str]:
        return [r.json["text"] for r in slack.received if r.path.startswith(prefix)]

    assert router.send("run_succeeded", run_id="r-ok", summary={"rows_out": 120}) == {"n8n": True}
    wait_for(lambda: slack_to("/stakeholders/") and smtp.messages)
    assert "New forecasts are in Tableau (run r-ok)" in slack_to("/stakeholders/")[0]
    [mail] = smtp.messages
    assert mail.envelope_to == ["planning@example.com"] and mail.authenticated_as == "n8n"
    assert "run r-ok" in mail.message["Subject"]

    # a first failure: the team channel, nobody woken up
    router.send("run_failed", run_id="r-f1", summary={"error": "boom", "consecutive_failures": 1})
    wait_for(lambda: slack_to("/team/"))
    assert "r-f1" in slack_to("/team/")[0] and "first failure" in slack_to("/team/")[0]

    # the same failure again, and a late forecast: on-call, by Slack and email
    router.send("run_failed", run_id="r-f2", summary={"error": "boom", "consecutive_failures": 2})
    router.send("forecast_late", run_id="2026-W49", summary={"reason": "no forecast by Monday 08:00"})
    wait_for(lambda: len(slack_to("/oncall/")) == 2 and len(smtp.messages) == 3)
    oncall = slack_to("/oncall/")
    assert any("r-f2" in t and "2 failed runs in a row" in t for t in oncall)
    assert any("2026-W49" in t and "forecast is late" in t for t in oncall)
    oncall_mail = [m for m in smtp.messages if m.envelope_to == ["oncall@example.com"]]
    assert sorted(m.message["Subject"] for m in oncall_mail) == [
        "[sellout][ON-CALL] forecast_late: run 2026-W49",
        "[sellout][ON-CALL] run_failed: run r-f2",
    ]
    assert len(slack_to("/team/")) == 1  # the repeated failure did not go to the team channel only


@pytest.mark.n8n
def test_no_secret_in_n8n_answers_or_messages(stack):
    texts = [r.body.decode() for r in stack["slack"].received]
    texts += [m.raw.decode("utf-8", "replace") for m in stack["smtp"].messages]
    texts += [Path(stack["n8n"].home / "n8n.log").read_text(errors="replace")]
    assert texts
    for text in texts:
        assert TOKEN_SECRET not in text and SMTP_PASSWORD not in text
