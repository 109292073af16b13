"""sellout.integrations.tableau with the real tableauserverclient against the local fake Tableau server."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import tableauserverclient.exponential_backoff as backoff
from support.tableau_fake import FINISH_CANCELLED, FINISH_COMPLETED, FINISH_FAILED, NS, FakeTableauServer
from support.webhook_sink import WebhookSink, closed_port_url

from sellout.integrations import tableau as tableau_module
from sellout.integrations.tableau import (
    TableauRefreshError,
    TableauSettings,
    item_key,
    refresh_items,
)
from sellout.integrations.tableau_n8n import refresh_items_via_n8n

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "pat-secret-DO-NOT-LOG-7f3a9c"
JWT = "eyJhbGciOiJIUzI1NiJ9.jwt-secret-DO-NOT-LOG.sig"
DS = {"type": "datasource", "name": "Sellout Forecasts"}
WB = {"type": "workbook", "name": "Demand Planning"}


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    """wait_for_job sleeps 0.5 s x 1.4^n between polls; 0.02 s keeps scripted scenarios fast."""
    monkeypatch.setattr(backoff, "ASYNC_POLL_MIN_INTERVAL", 0.02)


@pytest.fixture
def fake():
    server = FakeTableauServer(
        token_secret=SECRET,
        jwt=JWT,
        site="Sellout",
        datasources=[{"name": "Sellout Forecasts"}, {"name": "Other Extract"}],
        workbooks=[{"name": "Demand Planning"}],
    )
    with server:
        yield server


def settings_for(fake: FakeTableauServer, **overrides) -> TableauSettings:
    config = {
        "server_url": fake.url,
        "site": "Sellout",
        "token_name": fake.token_name,
        "token_secret": SECRET,
        "timeout_s": 10,
        "backoff_s": 0.01,
        **overrides,
    }
    return TableauSettings.from_config(config)


def refresh_posts(fake: FakeTableauServer) -> list:
    return fake.calls("POST", r"/refresh$")


def test_success_records_job_and_finish_code_and_signs_out(fake):
    fake.script_refresh("Sellout Forecasts", polls=2)
    [confirmation] = refresh_items(settings_for(fake), [DS])

    [job] = fake.jobs.values()
    assert confirmation["status"] == "succeeded"
    assert confirmation["job_id"] == job.id
    assert confirmation["finish_code"] == 0
    assert confirmation["item_id"] == fake.item("Sellout Forecasts").id
    assert confirmation["item_name"] == "Sellout Forecasts"
    assert confirmation["item_type"] == "datasource"
    assert confirmation["started_at"] and confirmation["completed_at"]
    assert confirmation["error"] is None
    assert len(fake.calls("GET", rf"/jobs/{job.id}$")) == 3  # 2 in progress + 1 finished
    # refresh needs REST >= 2.8: the client switched to the server's version after sign-in
    [post] = refresh_posts(fake)
    assert post.path.startswith("/api/3.19/")
    assert len(fake.calls("POST", r"/auth/signout$")) == 1
    assert not fake.signed_in


def test_finish_code_3_counts_as_success_and_workbooks_refresh(fake):
    fake.script_refresh("Demand Planning", finish_code=FINISH_COMPLETED)
    [confirmation] = refresh_items(settings_for(fake), [WB])
    assert confirmation["status"] == "succeeded"
    assert confirmation["finish_code"] == 3
    assert confirmation["item_type"] == "workbook"
    assert refresh_posts(fake)[0].path.endswith(f"/workbooks/{fake.item('Demand Planning').id}/refresh")


def test_item_by_id_uses_get_by_id(fake):
    item = fake.item("Sellout Forecasts")
    [confirmation] = refresh_items(settings_for(fake), [{"type": "datasource", "id": item.id}])
    assert confirmation["status"] == "succeeded"
    assert confirmation["item_name"] == "Sellout Forecasts"
    assert fake.calls("GET", rf"/datasources/{item.id}$")


def test_already_queued_follows_the_existing_job_and_never_starts_a_second_refresh(fake):
    fake.queue_job("Other Extract")  # another item's queued refresh must not be picked
    queued = fake.already_queued("Sellout Forecasts", polls=1)

    [confirmation] = refresh_items(settings_for(fake), [DS])

    assert len(refresh_posts(fake)) == 1
    assert confirmation["status"] == "succeeded"
    assert confirmation["job_id"] == queued.id
    assert confirmation["followed_existing_job"] is True
    assert fake.calls("GET", r"/jobs$")
    assert not fake.signed_in


def test_already_queued_without_a_visible_job_is_a_failure_not_a_second_refresh(fake):
    queued = fake.already_queued("Sellout Forecasts")
    del fake.jobs[queued.id]

    [confirmation] = refresh_items(settings_for(fake), [DS])

    assert len(refresh_posts(fake)) == 1
    assert confirmation["status"] == "failed"
    assert "409093" in confirmation["error"]
    assert not fake.signed_in


def test_failed_job_is_recorded_with_its_notes(fake):
    fake.script_refresh(
        "Sellout Forecasts", finish_code=FINISH_FAILED, polls=1, notes="Login failed for user."
    )
    [confirmation] = refresh_items(settings_for(fake), [DS])
    assert confirmation["status"] == "failed"
    assert confirmation["finish_code"] == 1
    assert confirmation["completed_at"]
    assert "Login failed for user." in confirmation["error"]
    assert not fake.signed_in


def test_cancelled_job_is_cancelled_not_failed(fake):
    fake.script_refresh("Sellout Forecasts", finish_code=FINISH_CANCELLED)
    [confirmation] = refresh_items(settings_for(fake), [DS])
    assert confirmation["status"] == "cancelled"
    assert confirmation["finish_code"] == 2


def test_slow_job_beyond_timeout_is_recorded_as_timeout(fake):
    fake.script_refresh("Sellout Forecasts", polls=10_000)
    [confirmation] = refresh_items(settings_for(fake, timeout_s=0.2), [DS])
    assert confirmation["status"] == "timeout"
    assert confirmation["job_id"] == next(iter(fake.jobs))
    assert "0.2s" in confirmation["error"]
    assert not fake.signed_in


def test_one_missing_item_does_not_stop_the_others(fake):
    results = refresh_items(settings_for(fake), [{"type": "datasource", "name": "Nope"}, WB])
    assert [r["status"] for r in results] == ["failed", "succeeded"]
    assert "no datasource named 'Nope'" in results[0]["error"]
    assert len(refresh_posts(fake)) == 1


def test_always_signs_out_even_when_something_unexpected_raises(fake, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyError("unexpected")

    monkeypatch.setattr(tableau_module, "_refresh_one", boom)
    with pytest.raises(KeyError):
        refresh_items(settings_for(fake), [DS])
    assert len(fake.calls("POST", r"/auth/signout$")) == 1
    assert not fake.signed_in


def test_bad_credentials_give_a_clear_error_without_the_secret(fake, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-DO-NOT-LOG-123"
    with pytest.raises(TableauRefreshError) as info:
        refresh_items(settings_for(fake, token_secret=wrong), [DS])
    message = str(info.value)
    assert "401001" in message and "sign-in" in message and fake.url in message
    assert "sellout-ci" in message  # the token *name* helps, it is not secret
    assert wrong not in message and wrong not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is not None  # cause suppressed
    assert wrong not in caplog.text
    assert not refresh_posts(fake)


def test_unreachable_server_gives_a_clear_error(fake):
    url = fake.url
    fake.stop()
    with pytest.raises(TableauRefreshError, match="unreachable") as info:
        refresh_items(
            TableauSettings.from_config(
                {
                    "server_url": url,
                    "token_name": "n",
                    "token_secret": SECRET,
                    "retries": 1,
                    "backoff_s": 0.01,
                }
            ),
            [DS],
        )
    assert SECRET not in str(info.value)


def test_jwt_sign_in(fake):
    settings = TableauSettings.from_config({"server_url": fake.url, "site": "Sellout", "jwt": JWT})
    [confirmation] = refresh_items(settings, [DS])
    assert confirmation["status"] == "succeeded"
    [signin] = fake.calls("POST", r"/auth/signin$")
    assert f'jwt="{JWT}"' in signin.body


def test_secrets_never_appear_in_logs_or_results(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.script_refresh("Sellout Forecasts", finish_code=FINISH_FAILED, notes=f"echo {SECRET}")
    results = refresh_items(settings_for(fake), [DS, {"type": "workbook", "name": "Missing"}])
    results += refresh_items(
        TableauSettings.from_config({"server_url": fake.url, "site": "Sellout", "jwt": JWT}), [WB]
    )

    [signin, _] = fake.calls("POST", r"/auth/signin$")
    assert SECRET in signin.body  # the secret was really used...
    assert "***" in results[0]["error"]  # ...and redacted where the server echoed it
    for text in (caplog.text, json.dumps(results)):
        assert SECRET not in text
        assert JWT not in text


def test_5xx_and_429_are_retried_then_the_refresh_succeeds(fake):
    fake.fail_next("POST", r"/auth/signin$", [503])
    fake.fail_next("POST", r"/refresh$", [502, 429])
    fake.fail_next("GET", r"/jobs/", [500, 504])
    [confirmation] = refresh_items(settings_for(fake), [DS])
    assert confirmation["status"] == "succeeded"
    assert len(fake.calls("POST", r"/refresh$")) == 3  # 502, 429, then accepted
    assert len(fake.jobs) == 1  # transient answers created no job
    assert not fake.signed_in


def test_a_dropped_connection_after_the_server_accepted_the_refresh_follows_that_job(fake):
    # The refresh POST is handled (a job exists) but the answer never arrives; the retried POST gets 409093.
    fake.fail_next("POST", r"/refresh$", ["accept-drop"])
    fake.fail_next("GET", r"/jobs/", ["drop"])

    def handle_refresh_once_then_conflict(original=fake._refresh):
        def refresh(item):
            if fake.jobs:
                fake.scenarios[item.id].already_queued = True
            return original(item)

        return refresh

    fake.script_refresh("Sellout Forecasts", polls=1)
    fake._refresh = handle_refresh_once_then_conflict()
    [confirmation] = refresh_items(settings_for(fake), [DS])

    [job] = fake.jobs.values()
    assert confirmation["status"] == "succeeded"
    assert confirmation["job_id"] == job.id and confirmation["followed_existing_job"] is True
    assert len(fake.calls("POST", r"/refresh$")) == 2


def test_transient_errors_that_do_not_stop_become_a_clear_failure(fake):
    fake.fail_next("POST", r"/refresh$", [503] * 10)
    [confirmation] = refresh_items(settings_for(fake, retries=2), [DS])
    assert confirmation["status"] == "failed"
    assert "503" in confirmation["error"]
    assert len(fake.calls("POST", r"/refresh$")) == 3
    assert not fake.signed_in


def test_known_jobs_of_a_retried_task(fake):
    started = []
    fake.script_refresh("Sellout Forecasts", polls=1)
    [first] = refresh_items(settings_for(fake), [DS], on_started=lambda item, rec: started.append(rec))
    assert [r["status"] for r in started] == ["started"] and started[0]["job_id"] == first["job_id"]

    # confirmed before: nothing is asked of Tableau at all
    before = len(fake.requests)
    [again] = refresh_items(settings_for(fake), [DS], known={item_key(DS): first})
    assert again["job_id"] == first["job_id"] and len(fake.requests) == before

    # started before but not confirmed: that job is followed, no second refresh
    running = fake.queue_job("Sellout Forecasts")
    known = {item_key(DS): {"job_id": running.id, "status": "started"}}
    [followed] = refresh_items(settings_for(fake), [DS], known=known)
    assert followed["job_id"] == running.id and followed["followed_existing_job"] is True
    assert len(fake.calls("POST", r"/refresh$")) == 1

    # a job Tableau no longer knows: a new refresh is started
    [fresh] = refresh_items(
        settings_for(fake), [DS], known={item_key(DS): {"job_id": "gone", "status": "started"}}
    )
    assert fresh["status"] == "succeeded" and fresh["job_id"] not in {running.id, "gone"}


def test_refresh_via_n8n_posts_each_item_and_reads_the_confirmation():
    answer = {
        "item_type": "datasource",
        "item_id": "ds-1",
        "item_name": "Sellout Forecasts",
        "job_id": "job-9",
        "followed_existing_job": False,
        "started_at": "2026-01-05T09:00:00Z",
        "completed_at": "2026-01-05T09:01:00Z",
        "finish_code": 0,
        "status": "succeeded",
        "error": None,
    }
    with WebhookSink(statuses=[503, 200]) as sink:
        sink.reply = json.dumps(answer).encode()
        settings = TableauSettings.from_config(
            {
                "server_url": "https://tableau.example.com",
                "via": "n8n",
                "n8n_webhook_url": sink.url("/webhook/sellout/tableau-refresh-T0KEN"),
                "backoff_s": 0.01,
                "items": [DS],
            }
        )
        [confirmation] = refresh_items_via_n8n(settings, [DS], run_id="run-7")
    assert confirmation == answer
    assert len(sink.received) == 2  # 503 retried
    body = sink.received[-1].json
    assert body["run_id"] == "run-7" and body["item"]["name"] == "Sellout Forecasts"
    assert body["follow_job_id"] is None
    assert "token" not in json.dumps(body).lower()


def test_refresh_via_n8n_down_is_a_failed_item_without_the_webhook_path():
    url = closed_port_url("/webhook/T0KEN-path")
    settings = TableauSettings.from_config(
        {"server_url": "https://t", "via": "n8n", "n8n_webhook_url": url, "retries": 1, "backoff_s": 0.01}
    )
    [confirmation] = refresh_items_via_n8n(settings, [DS], run_id="run-7")
    assert confirmation["status"] == "failed"
    assert "n8n" in confirmation["error"] and "T0KEN" not in confirmation["error"]


def test_settings_from_config():
    assert TableauSettings.from_config(None) is None
    assert TableauSettings.from_config({}) is None
    assert TableauSettings.from_config({"server_url": "", "token_secret": "x"}) is None
    assert TableauSettings.from_config({"server_url": "  ", "items": [DS]}) is None

    settings = TableauSettings.from_config(
        {
            "server_url": "https://tableau.example.com/",
            "site": None,
            "token_name": "ci",
            "token_secret": SECRET,
            "items": [{"type": "DataSource", "name": "A"}, {"type": "workbook", "id": "w-1", "project": "P"}],
            "timeout_s": "120",
        }
    )
    assert settings.server_url == "https://tableau.example.com"
    assert settings.site == ""
    assert settings.timeout_s == 120.0
    assert settings.items == (
        {"type": "datasource", "id": None, "name": "A"},
        {"type": "workbook", "id": "w-1", "name": None, "project": "P"},
    )
    assert SECRET not in repr(settings)

    with pytest.raises(ValueError, match="no credentials"):
        TableauSettings.from_config({"server_url": "https://tableau.example.com", "token_name": "ci"})
    with pytest.raises(ValueError, match="'type' must be"):
        TableauSettings.from_config(
            {"server_url": "https://t", "jwt": "j", "items": [{"type": "view", "name": "x"}]}
        )
    with pytest.raises(
        ValueError,
        match=r"tableau_settings.via: Input should be 'tableauserverclient' or 'n8n' \(got 'airflow'\)",
    ):
        TableauSettings.from_config({"server_url": "https://t", "jwt": "j", "via": "airflow"})
    with pytest.raises(ValueError, match="N8N_TABLEAU_WEBHOOK_URL"):
        TableauSettings.from_config({"server_url": "https://t", "via": "n8n"})
    assert TableauSettings.from_config(
        {"server_url": "https://t", "via": "n8n", "n8n_webhook_url": "http://n/x"}
    )
    with pytest.raises(ValueError, match="'name' or its 'id'"):
        TableauSettings.from_config({"server_url": "https://t", "jwt": "j", "items": [{"type": "workbook"}]})


# ----------------------------------------------------------------------------------------------------
# The fake's XML against the real Tableau REST bodies (shared fixtures; never copied into the repo)


def _fixtures_dir() -> Path:
    configured = Path(os.environ.get("SELLOUT_SHARED_DIR", "../shared"))
    base = configured if configured.is_absolute() else PROJECT_ROOT / configured
    return base / "fixtures" / "tableau-rest"


def _structure(xml: str | bytes) -> dict[tuple[str, ...], set[str]]:
    """{element path from the root (namespace-qualified tags): attribute names}."""
    out: dict[tuple[str, ...], set[str]] = {}

    def walk(element: ET.Element, path: tuple[str, ...]) -> None:
        path = (*path, element.tag)
        out.setdefault(path, set()).update(element.attrib)
        for child in element:
            walk(child, path)

    walk(ET.fromstring(xml), ())
    return out


def _union(*structures: dict) -> dict[tuple[str, ...], set[str]]:
    out: dict[tuple[str, ...], set[str]] = {}
    for structure in structures:
        for path, attrs in structure.items():
            out.setdefault(path, set()).update(attrs)
    return out


def _assert_within(fake_structure: dict, real_structure: dict, extra_attrs: set[str] = frozenset()) -> None:
    for path, attrs in fake_structure.items():
        assert path in real_structure, f"fake element {path} not in the real bodies"
        assert attrs - real_structure[path] <= extra_attrs, (
            f"{path}: fake attrs {attrs - real_structure[path]}"
        )


def test_fake_xml_matches_the_real_tableau_bodies():
    fixtures = _fixtures_dir()
    if not fixtures.is_dir():
        pytest.skip(f"real Tableau REST bodies not found at {fixtures} (set SELLOUT_SHARED_DIR)")

    def real(name: str) -> dict:
        return _structure((fixtures / name).read_bytes())

    fake = FakeTableauServer(datasources=[{"name": "A"}], workbooks=[{"name": "W"}])
    fake.script_refresh("A", finish_code=FINISH_FAILED, polls=1, notes="boom")
    ds_job = fake.queue_job("A")
    wb_job = fake.queue_job("W")
    signin_request = (
        f'<tsRequest><credentials personalAccessTokenName="{fake.token_name}" '
        f'personalAccessTokenSecret="{fake.token_secret}"><site contentUrl="" /></credentials></tsRequest>'
    )
    status, signin = fake.handle("POST", "/api/2.4/auth/signin", {}, {}, signin_request)
    assert status == 200
    status, signin_error = fake.handle(
        "POST", "/api/2.4/auth/signin", {}, {}, signin_request.replace("fake-", "x")
    )
    assert status == 401

    # same elements and attributes as the real bodies
    assert _structure(signin) == real("auth_sign_in.xml")
    assert _structure(signin_error) == real("auth_sign_in_error.xml")
    assert _structure(fake.refresh_body(ds_job)) == real("datasource_refresh.xml")
    assert _structure(fake.refresh_body(wb_job)) == real("workbook_refresh.xml")
    assert _structure(fake.server_info_body()) == real("server_info_get.xml")

    # job bodies: within what the real job bodies (and the job inside refresh answers) contain
    real_jobs = _union(
        *(real(n) for n in sorted(p.name for p in fixtures.glob("job_get_by_id*.xml"))),
        real("datasource_refresh.xml"),
        real("workbook_refresh.xml"),
    )
    job_path = (f"{{{NS}}}tsResponse", f"{{{NS}}}job")
    fake.poll(ds_job)
    in_progress = _structure(fake.job_body(ds_job))
    fake.poll(ds_job)
    finished = _structure(fake.job_body(ds_job))
    for body in (in_progress, finished):
        _assert_within(body, real_jobs)
    assert in_progress[job_path] == real("job_get_by_id_inprogress.xml")[job_path]
    assert finished[job_path] >= {"id", "type", "progress", "createdAt", "completedAt", "finishCode"}
    assert finished[job_path] <= real("job_get_by_id_failed_workbook.xml")[job_path]

    # lists and items: a subset of the real attributes (Query Jobs documents title/subtitle)
    _assert_within(_structure(fake.items_body("datasource", {})), real("datasource_get.xml"))
    _assert_within(
        _structure(fake.item_body(fake.item("A"))),
        real("datasource_get_by_id.xml"),
        {"hasExtracts", "encryptExtracts"},
    )
    _assert_within(_structure(fake.jobs_body({})), real("job_get.xml"), {"title", "subtitle"})


def test_an_n8n_answer_that_is_not_a_confirmation_is_named_as_such():
    with WebhookSink() as sink:
        sink.reply = b"ok"
        settings = TableauSettings.from_config(
            {
                "server_url": "https://tableau.example.com",
                "via": "n8n",
                "n8n_webhook_url": sink.url("/webhook/x"),
                "retries": 0,
            }
        )
        [confirmation] = refresh_items_via_n8n(settings, [DS], run_id="run-8")
    assert confirmation["status"] == "failed"
    assert (
        "without a refresh confirmation" in confirmation["error"]
        and "unreachable" not in confirmation["error"]
    )
