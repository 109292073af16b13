"""TableauRefreshDataset against the local fake Tableau server: refresh, confirm, record, follow, refuse."""

from __future__ import annotations

import logging

import psycopg
import pytest
import tableauserverclient.exponential_backoff as backoff
from kedro.io import DatasetError
from support.tableau_fake import FINISH_CANCELLED, FINISH_FAILED, FakeTableauServer

from sellout.datasets import TableauRefreshDataset
from sellout.datasets.tableau_refresh import TableauRefreshFailed, load_refreshes, save_refresh

SECRET = "pat-secret-DO-NOT-LOG-node"
REQUEST = {
    "run_id": "run-1",
    "publish": True,
    "reason": None,
    "forecast_rows": 1234,
    "forecast_table": "forecast.forecasts",
    "quality_gate": {"run_id": "run-1", "passed": True},
}


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    monkeypatch.setattr(backoff, "ASYNC_POLL_MIN_INTERVAL", 0.02)


@pytest.fixture
def fake():
    with FakeTableauServer(token_secret=SECRET, datasources=[{"name": "Sellout Forecasts"}]) as server:
        yield server


def settings_of(fake: FakeTableauServer, **overrides) -> dict:
    return {
        "server_url": fake.url,
        "site": "",
        "items": [{"type": "datasource", "name": "Sellout Forecasts"}],
        "timeout_s": 10,
        "credentials": {"token_name": fake.token_name, "token_secret": SECRET},
        **overrides,
    }


def refresh(tmp_path, tableau: dict | None, request: dict = REQUEST, db_url: str | None = None) -> dict:
    """The outcome of saving ``request``; a failed refresh raises after recording it, with the record."""
    dataset = TableauRefreshDataset(
        filepath=str(tmp_path / "status.json"),
        run_id="run-1",
        tableau=tableau,
        credentials={"url": db_url} if db_url else None,
    )
    try:
        dataset.save(request)
    except DatasetError as exc:
        failure = exc.__cause__
        assert isinstance(failure, TableauRefreshFailed), exc
        assert failure.record == dataset.load() and "Tableau refresh failed" in str(failure)
    return dataset.load()


def _refresh_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select item_key, job_id, status, finish_code, started_at is not null, completed_at is not null "
            "from ops.tableau_refreshes where run_id = 'run-1'"
        ).fetchall()


@pytest.mark.parametrize(
    "tableau", [None, {}, {"server_url": None}, {"server_url": "", "credentials": {"token_secret": "x"}}]
)
def test_refresh_is_skipped_with_a_warning_when_tableau_is_not_configured(tmp_path, tableau, caplog):
    status = refresh(tmp_path, tableau)
    assert status["status"] == "skipped" and status["items"] == []
    assert "TABLEAU_SERVER_URL" in status["reason"]
    assert "Tableau refresh SKIPPED: no Tableau server configured" in caplog.text


def test_configured_without_items_is_skipped(tmp_path, fake):
    status = refresh(tmp_path, settings_of(fake, items=[]))
    assert status["status"] == "skipped" and fake.requests == []


def test_a_blocked_request_does_not_touch_tableau(tmp_path, fake, caplog):
    status = refresh(
        tmp_path, settings_of(fake), {**REQUEST, "publish": False, "reason": "quality gate blocked"}
    )
    assert status["status"] == "blocked" and status["reason"] == "quality gate blocked"
    assert fake.requests == [] and "Tableau refresh BLOCKED" in caplog.text


def test_refresh_succeeds_and_passes_the_request_through(tmp_path, fake):
    fake.script_refresh("Sellout Forecasts", polls=1)
    status = refresh(tmp_path, settings_of(fake))
    assert status["status"] == "succeeded" and status["reason"] is None
    assert status["forecast_rows"] == 1234 and status["forecast_table"] == "forecast.forecasts"
    assert status["tableau_server"] == fake.url and status["quality_gate"]["passed"] is True
    [item] = status["items"]
    assert item["status"] == "succeeded" and item["job_id"] == next(iter(fake.jobs))
    assert not fake.signed_in


@pytest.mark.parametrize(
    ("finish_code", "expected"), [(FINISH_FAILED, "failed"), (FINISH_CANCELLED, "cancelled")]
)
def test_failed_or_cancelled_refresh_is_recorded_as_failed(tmp_path, fake, caplog, finish_code, expected):
    caplog.set_level(logging.DEBUG)
    fake.script_refresh("Sellout Forecasts", finish_code=finish_code)
    status = refresh(tmp_path, settings_of(fake))
    assert status["status"] == "failed" and expected in status["reason"]
    assert status["items"][0]["status"] == expected and status["items"][0]["finish_code"] == finish_code
    assert SECRET not in caplog.text and SECRET not in str(status)


def test_a_sign_in_failure_is_recorded_for_every_item(tmp_path, fake, db_url):
    status = refresh(
        tmp_path,
        settings_of(fake, credentials={"token_name": fake.token_name, "token_secret": "wrong-secret-123"}),
        db_url=db_url,
    )
    assert status["status"] == "failed"
    assert "sign-in" in status["reason"] and "401001" in status["reason"]
    assert "wrong-secret-123" not in str(status)
    assert [row[2] for row in _refresh_rows(db_url)] == ["failed"]


def test_an_unreachable_server_is_recorded_as_failed(tmp_path, db_url):
    tableau = {
        "server_url": "http://127.0.0.1:9",
        "items": [{"type": "datasource", "name": "X"}],
        "retries": 0,
        "credentials": {"jwt": "a-jwt-value"},
    }
    status = refresh(tmp_path, tableau, db_url=db_url)
    assert status["status"] == "failed" and "unreachable" in status["reason"]
    assert [row[2] for row in _refresh_rows(db_url)] == ["failed"]


def test_confirmation_is_recorded_and_a_retried_task_does_not_refresh_again(tmp_path, fake, db_url):
    fake.script_refresh("Sellout Forecasts", polls=1)
    first = refresh(tmp_path, settings_of(fake), db_url=db_url)
    [job_id] = list(fake.jobs)
    assert _refresh_rows(db_url) == [
        ("datasource:name=Sellout Forecasts", job_id, "succeeded", 0, True, True)
    ]

    again = refresh(tmp_path, settings_of(fake), db_url=db_url)
    assert len(fake.calls("POST", r"/refresh$")) == 1  # confirmed already: not refreshed twice
    assert again["items"][0]["job_id"] == first["items"][0]["job_id"] and again["items"][0]["reused"] is True
    assert len(_refresh_rows(db_url)) == 1


def test_a_retried_task_follows_the_job_its_first_attempt_started(tmp_path, fake, db_url):
    fake.script_refresh("Sellout Forecasts", polls=10_000)  # the first attempt times out, the job runs on
    assert refresh(tmp_path, settings_of(fake, timeout_s=0.2), db_url=db_url)["status"] == "failed"
    [job] = fake.jobs.values()
    assert _refresh_rows(db_url)[0][1:3] == (job.id, "timeout")

    job.polls_left = 1  # the job finishes while the task is retried
    status = refresh(tmp_path, settings_of(fake), db_url=db_url)
    assert status["status"] == "succeeded"
    assert len(fake.calls("POST", r"/refresh$")) == 1
    assert status["items"][0]["job_id"] == job.id and status["items"][0]["followed_existing_job"] is True
    assert _refresh_rows(db_url)[0][1:4] == (job.id, "succeeded", 0)


def test_records_are_upserts_that_keep_the_job_id(db_url):
    with psycopg.connect(db_url) as conn:
        record = {"item_type": "datasource", "item_name": "F", "job_id": "j1", "status": "started"}
        save_refresh(conn, "r1", "datasource:name=F", record, "tableauserverclient")
        save_refresh(
            conn,
            "r1",
            "datasource:name=F",
            {**record, "job_id": None, "status": "succeeded", "finish_code": 0},
            "n8n",
        )
        [(key, stored)] = load_refreshes(conn, "r1").items()
    assert key == "datasource:name=F" and stored["job_id"] == "j1" and stored["status"] == "succeeded"
