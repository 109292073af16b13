"""Tableau extract refresh through the REST API (tableauserverclient).

``refresh_items`` signs in once, asks Tableau to refresh each configured data source or workbook
extract, waits for every job to finish and returns one confirmation per item. It always signs out,
and never logs or raises the token secret or the JWT.

Behaviour worth knowing:

- ``TSC.Server(url, use_server_version=True)``: the client starts at REST API 2.4, where refresh does
  not exist.
- Error 409093 (a refresh of that item is already queued) makes ``.refresh`` return ``None``. We then
  look for the queued/in-progress ``refresh_extracts`` job of that item and follow it instead of
  starting a second one. If no such job can be found the item is recorded as ``failed``: we cannot
  confirm that the extract was refreshed.
- finishCode 0 or 3 = succeeded, 1 = failed, 2 = cancelled; no completion within ``timeout_s`` =
  ``timeout`` (the job keeps running on the server).
- A failure of one item is recorded in its confirmation and the other items still run. Sign-in or
  connection failures raise :class:`TableauRefreshError` (the message names the server host and the
  token name, never secrets).
- Transient errors (HTTP 429 and 5xx, connection drops, read timeouts) are retried by the HTTP session with
  exponential backoff (``retries``, ``backoff_s``; ``Retry-After`` is honoured). A retried refresh POST that
  the server had already accepted answers 409093, which is followed like any queued refresh: never two jobs.
- A retried task passes ``known`` (the run's earlier records from ``ops.tableau_refreshes``): an item already
  confirmed is not refreshed again, and an item whose job was started but not confirmed follows that job.
  ``on_started`` is called as soon as a job id is known so that the caller can record it first.
- Personal access tokens: parallel sign-ins with the same token invalidate each other, so do not
  refresh from several processes with one token at once. A JWT (connected app) does not have that
  problem.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

import requests

from sellout.config.secrets import RedactingFilter, Redactor
from sellout.config.tableau import TableauSettings, host, normalize_items
from sellout.integrations.http import retrying_session

if TYPE_CHECKING:  # the client is imported where a refresh runs, not when the pipeline registry loads
    import tableauserverclient as TSC  # noqa: PLC0415 - imported where a refresh runs

logger = logging.getLogger(__name__)

STATUSES = ("succeeded", "failed", "cancelled", "timeout")
# A job recorded in an earlier attempt of this run that is still worth following.
FOLLOWABLE = {"started", "running", "timeout"}
# How many of the newest refresh_extracts jobs to inspect when following an already queued refresh.
MAX_JOBS_SCANNED = 200
_OPEN_JOB_STATUSES = {"pending", "inprogress", "in progress", "queued"}
# Loggers that may repeat what the server said (tableauserverclient logs job notes and error texts).
_REDACTED_LOGGERS = ("TSC", __name__)
_SUBTITLES = {"datasource": {"data source", "datasource"}, "workbook": {"workbook"}}


class TableauRefreshError(RuntimeError):
    """Tableau could not be reached or signed in to (the message never contains a secret)."""


def _credentials(settings: TableauSettings) -> TSC.models.tableau_auth.Credentials:
    import tableauserverclient as TSC  # noqa: PLC0415 - imported where a refresh runs

    if settings.jwt:
        return TSC.JWTAuth(settings.jwt.get_secret_value(), site_id=settings.site)
    secret = settings.token_secret.get_secret_value() if settings.token_secret else None
    return TSC.PersonalAccessTokenAuth(settings.token_name, secret, site_id=settings.site)


def http_session(settings: TableauSettings) -> requests.Session:
    """A session that retries transient errors; a repeated refresh POST answers 409093, which is followed."""
    return retrying_session(settings.retries, settings.backoff_s)


OnStarted = Callable[[dict[str, Any], dict[str, Any]], None]


def refresh_items(
    settings: TableauSettings,
    items: list[dict[str, Any]],
    *,
    known: dict[str, dict[str, Any]] | None = None,
    on_started: OnStarted | None = None,
) -> list[dict[str, Any]]:
    """Refresh every item's extract, wait for the jobs, return one confirmation per item (in input order).

    ``known``: earlier records of this run by :func:`item_key` (a retried task); ``on_started(item, record)``
    is called once the job id of an item is known, before waiting.
    """
    items = normalize_items(items)
    known = known or {}
    confirmed = {}
    for item in items:
        earlier = known.get(item_key(item))
        if earlier and earlier.get("status") == "succeeded":
            logger.info(
                "Tableau: %s already confirmed in this run (job %s)", item_label(item), earlier.get("job_id")
            )
            confirmed[item_key(item)] = {**empty_record(item), **earlier, "reused": True}
    todo = [item for item in items if item_key(item) not in confirmed]
    results: dict[str, dict[str, Any]] = {}
    if todo:
        redactor = RedactingFilter(Redactor.from_config(settings))
        watched = [logging.getLogger(name) for name in _REDACTED_LOGGERS]
        for watched_logger in watched:
            watched_logger.addFilter(redactor)
        try:
            for item, record in zip(todo, _refresh_all(settings, todo, known, on_started), strict=True):
                results[item_key(item)] = record
        finally:
            for watched_logger in watched:
                watched_logger.removeFilter(redactor)
    return [confirmed.get(item_key(item)) or results[item_key(item)] for item in items]


def item_key(item: dict[str, Any]) -> str:
    """The stable key of a configured item: ``datasource:name=Sales[@Project]`` or ``workbook:id=...``."""
    if item.get("id"):
        return f"{item['type']}:id={item['id']}"
    project = f"@{item['project']}" if item.get("project") else ""
    return f"{item['type']}:name={item['name']}{project}"


def _refresh_all(
    settings: TableauSettings,
    items: list[dict[str, Any]],
    known: dict[str, dict[str, Any]],
    on_started: OnStarted | None,
) -> list[dict[str, Any]]:
    import tableauserverclient as TSC  # noqa: PLC0415 - imported where a refresh runs

    server_host = host(settings.server_url)
    # use_server_version: sign-in first asks the server for its REST API version (refresh needs >= 2.8).
    server = TSC.Server(
        settings.server_url, use_server_version=True, session_factory=lambda: http_session(settings)
    )
    try:
        server.auth.sign_in(_credentials(settings))
    except Exception as exc:  # noqa: BLE001 - re-raised as a clear, secret-free error
        raise TableauRefreshError(
            f"Tableau sign-in to {server_host} (site {settings.site or 'default'!r}) with {settings.auth_label} "
            f"failed: {Redactor.from_config(settings).redact(describe_error(exc))}"
        ) from None
    logger.info(
        "Signed in to Tableau %s (site %r, REST API %s) with %s",
        server_host,
        settings.site or "default",
        server.version,
        settings.auth_label,
    )
    try:
        return [_refresh_one(server, settings, item, known.get(item_key(item)), on_started) for item in items]
    finally:
        try:
            server.auth.sign_out()
        except Exception as exc:  # noqa: BLE001 - signing out must not hide the result
            logger.warning(
                "Tableau sign-out from %s failed: %s",
                server_host,
                Redactor.from_config(settings).redact(describe_error(exc)),
            )


def empty_record(item: dict[str, Any]) -> dict[str, Any]:
    """An item's confirmation before anything is known (``failed`` until a job says otherwise)."""
    return {
        "item_type": item["type"],
        "item_id": item.get("id"),
        "item_name": item.get("name"),
        "job_id": None,
        "followed_existing_job": False,
        "started_at": None,
        "completed_at": None,
        "finish_code": None,
        "status": "failed",
        "error": None,
    }


def item_label(item: dict[str, Any]) -> str:
    return f"{item['type']} {item.get('name') or item.get('id')!r}"


def _refresh_one(
    server: TSC.Server,
    settings: TableauSettings,
    item: dict[str, Any],
    earlier: dict[str, Any] | None,
    on_started: OnStarted | None,
) -> dict[str, Any]:
    from tableauserverclient.server.endpoint.exceptions import (  # noqa: PLC0415 - see _credentials
        JobCancelledException,
        JobFailedException,
    )

    record = empty_record(item)
    label = item_label(item)
    try:
        resolved = _resolve(server, item)
        record["item_id"], record["item_name"] = resolved.id, resolved.name
        job = None
        if earlier and earlier.get("job_id") and earlier.get("status") in FOLLOWABLE:
            job = _job_if_open(server, earlier["job_id"])
            if job is not None:
                logger.info("Tableau: following job %s started by an earlier attempt for %s", job.id, label)
                record["followed_existing_job"] = True
        if job is None:
            endpoint = server.datasources if item["type"] == "datasource" else server.workbooks
            job = endpoint.refresh(resolved)
        if job is None:
            logger.warning("Tableau: a refresh of %s is already queued (409093); following that job", label)
            job = _find_open_refresh_job(server, item["type"], resolved.id, resolved.name)
            if job is None:
                raise LookupError(
                    "Tableau says a refresh is already queued (409093) but no queued or running "
                    "refresh_extracts job for this item was found; the refresh could not be confirmed"
                )
            record["followed_existing_job"] = True
        record["job_id"] = job.id
        if on_started is not None:
            on_started(
                item, {**record, "status": "started", "started_at": _iso(job.started_at or job.created_at)}
            )
        logger.info("Tableau: refresh job %s for %s; waiting up to %ss", job.id, label, settings.timeout_s)
        done = server.jobs.wait_for_job(job, timeout=settings.timeout_s)
        _fill_from_job(record, done)
        record["status"] = "succeeded"
    except JobCancelledException as exc:  # subclass of JobFailedException: catch it first
        _fill_from_job(record, exc.job)
        record["status"] = "cancelled"
        record["error"] = f"refresh job cancelled: {_notes(exc.job)}"
    except JobFailedException as exc:
        _fill_from_job(record, exc.job)
        record["status"] = "failed"
        record["error"] = f"refresh job failed: {_notes(exc.job)}"
    except TimeoutError:
        record["status"] = "timeout"
        record["error"] = (
            f"refresh job not finished after {settings.timeout_s}s (it keeps running on the server)"
        )
    except Exception as exc:  # noqa: BLE001 - recorded per item; the caller decides whether the run fails
        record["status"] = "failed"
        record["error"] = describe_error(exc)
    if record["error"]:
        record["error"] = Redactor.from_config(settings).redact(record["error"])
    log = logger.info if record["status"] == "succeeded" else logger.error
    log(
        "Tableau refresh of %s: %s (job %s, finishCode %s)%s",
        label,
        record["status"],
        record["job_id"],
        record["finish_code"],
        f": {record['error']}" if record["error"] else "",
    )
    return record


def _resolve(server: TSC.Server, item: dict[str, Any]):
    endpoint = server.datasources if item["type"] == "datasource" else server.workbooks
    if item.get("id"):
        return endpoint.get_by_id(item["id"])
    matches = [m for m in endpoint.filter(name=item["name"])]  # iterating: one request (list() makes two)
    if item.get("project"):
        matches = [m for m in matches if m.project_name == item["project"]]
    where = f" in project {item['project']!r}" if item.get("project") else ""
    if not matches:
        raise LookupError(f"no {item['type']} named {item['name']!r}{where} on this site")
    if len(matches) > 1:
        projects = ", ".join(sorted(str(m.project_name) for m in matches))
        raise LookupError(
            f"{len(matches)} {item['type']}s are named {item['name']!r}{where} (projects: {projects}); "
            "give 'project' or 'id'"
        )
    return matches[0]


def _job_if_open(server: TSC.Server, job_id: str):
    """The job an earlier attempt started, when Tableau still knows it (finished jobs are followed too: their
    finish code is the confirmation); ``None`` when it is gone."""
    try:
        return server.jobs.get_by_id(job_id)
    except Exception as exc:  # noqa: BLE001 - an unknown job means: start a new refresh
        logger.warning(
            "Tableau: earlier job %s not found (%s); starting a new refresh", job_id, describe_error(exc)
        )
        return None


def _find_open_refresh_job(server: TSC.Server, item_type: str, item_id: str, item_name: str | None):
    """The newest queued or running refresh_extracts job of this item, or None."""
    jobs = server.jobs.filter(job_type="refresh_extracts").order_by("-created_at")
    for background_job in islice(jobs, MAX_JOBS_SCANNED):
        if str(background_job.status or "").lower() not in _OPEN_JOB_STATUSES:
            continue
        if background_job.title and item_name and background_job.title != item_name:
            continue
        if background_job.subtitle and background_job.subtitle.lower() not in _SUBTITLES[item_type]:
            continue
        job = server.jobs.get_by_id(background_job.id)
        job_item_id = job.datasource_id if item_type == "datasource" else job.workbook_id
        if job_item_id == item_id or (job_item_id is None and background_job.title == item_name):
            return job
    return None


def _fill_from_job(record: dict[str, Any], job: Any) -> None:
    record["job_id"] = job.id
    record["started_at"] = _iso(job.started_at or job.created_at)
    record["completed_at"] = _iso(job.completed_at)
    record["finish_code"] = job.finish_code if job.finish_code is not None and job.finish_code >= 0 else None


def _notes(job: Any) -> str:
    notes = [n for n in (job.notes or []) if n]
    return "; ".join(n.strip() for n in notes)[:1000] or "no notes"


def describe_error(exc: BaseException) -> str:
    """A one-line description of an error; for HTTP-level errors only the class (their text holds URLs)."""
    from tableauserverclient.server.endpoint.exceptions import XMLError  # noqa: PLC0415 - see _credentials

    if isinstance(exc, XMLError):  # ServerResponseError, FailedSignInError
        return f"{exc.code} {exc.summary}: {exc.detail}"
    if type(exc).__module__.startswith(("requests", "urllib3")):
        return f"{type(exc).__name__} (server unreachable or refused the connection)"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
