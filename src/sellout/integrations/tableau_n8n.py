"""The Tableau refresh through n8n's ``sellout-tableau-refresh`` workflow (``tableau.via: n8n``): n8n holds the
Tableau credentials, signs in, refreshes, follows a queued refresh on 409093, waits and signs out; it answers with the
same confirmation as :func:`sellout.integrations.tableau.refresh_items`."""

from __future__ import annotations

import logging
from typing import Any

from sellout.config.secrets import Redactor
from sellout.config.tableau import TableauSettings, host, normalize_items
from sellout.integrations.tableau import (
    FOLLOWABLE,
    STATUSES,
    describe_error,
    empty_record,
    http_session,
    item_key,
    item_label,
)

logger = logging.getLogger(__name__)


def refresh_items_via_n8n(
    settings: TableauSettings,
    items: list[dict[str, Any]],
    *,
    run_id: str,
    known: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Refresh through n8n's ``sellout-tableau-refresh`` workflow: one POST per item, answered with the same
    confirmation as :func:`refresh_items` once the job finished (n8n signs in, follows a queued refresh on
    409093, waits with backoff and signs out). Items confirmed earlier in this run are not sent again; a job
    recorded earlier is passed as ``follow_job_id``.
    """
    items = normalize_items(items)
    known = known or {}
    results = []
    for item in items:
        earlier = known.get(item_key(item)) or {}
        if earlier.get("status") == "succeeded":
            results.append({**empty_record(item), **earlier, "reused": True})
            continue
        follow = earlier.get("job_id") if earlier.get("status") in FOLLOWABLE else None
        results.append(_refresh_one_via_n8n(settings, item, run_id, follow))
    return results


def _refresh_one_via_n8n(
    settings: TableauSettings, item: dict[str, Any], run_id: str, follow_job_id: str | None
) -> dict[str, Any]:
    record = empty_record(item)
    payload = {
        "run_id": run_id,
        "item": item,
        "server_url": settings.server_url,
        "site": settings.site,
        "timeout_s": settings.timeout_s,
        "follow_job_id": follow_job_id,
    }
    target = host(settings.n8n_webhook_url.get_secret_value() if settings.n8n_webhook_url else "")
    try:
        with http_session(settings) as session:
            # The workflow answers when the job has finished: wait a little longer than the job timeout.
            response = session.post(
                settings.n8n_webhook_url.get_secret_value(),
                json=payload,
                timeout=(10, settings.timeout_s + 60),
            )
        if response.status_code >= 300:
            raise RuntimeError(f"n8n answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except (
            ValueError
        ):  # a 2xx that is not the workflow's confirmation (a different workflow, a proxy page)
            raise RuntimeError(
                f"n8n answered HTTP {response.status_code} without a refresh confirmation "
                f"(body {response.text[:60]!r}): is the URL the sellout-tableau-refresh workflow's webhook?"
            ) from None
        if isinstance(answer, list):
            answer = answer[0] if answer else {}
        if not isinstance(answer, dict):
            raise RuntimeError(f"n8n answered {type(answer).__name__} instead of a refresh confirmation")
        for key in record:
            if key in answer:
                record[key] = answer[key]
        if record["status"] not in STATUSES:
            raise RuntimeError(f"n8n answered an unknown status {record['status']!r}")
    except Exception as exc:  # noqa: BLE001 - recorded per item like a direct refresh
        record["status"] = "failed"
        record["error"] = f"Tableau refresh through n8n ({target}) failed: {describe_error(exc)}"
    if record["error"]:
        record["error"] = Redactor.from_config(settings).redact(str(record["error"]))
    log = logger.info if record["status"] == "succeeded" else logger.error
    log(
        "Tableau refresh of %s through n8n %s: %s (job %s)",
        item_label(item),
        target,
        record["status"],
        record["job_id"],
    )
    return record
