"""The Tableau extract refresh as a dataset: saving a refresh request refreshes, loading gives the outcome.

Catalog entry ``tableau_refresh_status`` (``catalog_publish.yml``). ``save(request)`` (from the publish node
``refresh_tableau``):

- ``request["publish"]`` false (the quality gate blocked it): nothing is refreshed, the outcome is ``blocked``;
- no Tableau server configured, or no items: ``skipped``, with the reason;
- otherwise every item is refreshed (tableauserverclient, or n8n's workflow with ``via: n8n``) and each item's
  outcome is recorded in ``ops.tableau_refreshes`` (the job id as soon as the job exists, then the end and finish
  code), so that a retried task follows a started job instead of starting a second one. A sign-in or connection
  failure is recorded for every item as ``failed``, with the reason.

The outcome (``succeeded`` when every item succeeded, else ``failed``) is written as JSON to ``filepath``; ``load()``
reads it back. A record that cannot be written to the database is logged: the refresh matters more than its record.
"""

from __future__ import annotations

import logging
from typing import Any

from sellout.config.secrets import Redactor, redact_url, safe_url
from sellout.config.tableau import TableauSettings
from sellout.datasets.atomic import JsonRecordDataset
from sellout.integrations import db
from sellout.integrations.tableau import (
    TableauRefreshError,
    empty_record,
    item_key,
    refresh_items,
)
from sellout.integrations.tableau_n8n import refresh_items_via_n8n

logger = logging.getLogger(__name__)

SKIP_REASON = (
    "no Tableau server configured (set TABLEAU_SERVER_URL, TABLEAU_SITE and "
    "TABLEAU_TOKEN_NAME/TABLEAU_TOKEN_SECRET or TABLEAU_JWT to enable the extract refresh)"
)
DDL = (
    "create schema if not exists ops",
    """
    create table if not exists ops.tableau_refreshes (
        run_id text not null,
        item_key text not null,
        item_type text not null,
        item_id text,
        item_name text,
        via text not null default 'tableauserverclient',
        job_id text,
        followed_existing_job boolean not null default false,
        status text not null,
        started_at timestamptz,
        completed_at timestamptz,
        finish_code integer,
        error text,
        updated_at timestamptz not null default now(),
        primary key (run_id, item_key)
    )
    """,
    "create index if not exists tableau_refreshes_updated on ops.tableau_refreshes (updated_at desc)",
)
RECORD_COLUMNS = (
    "item_type",
    "item_id",
    "item_name",
    "job_id",
    "followed_existing_job",
    "status",
    "started_at",
    "completed_at",
    "finish_code",
    "error",
)


class TableauRefreshFailed(RuntimeError):
    """At least one Tableau extract refresh did not succeed; ``record`` is the ``tableau_refresh_status``."""

    def __init__(self, message: str, record: dict[str, Any]):
        super().__init__(message)
        self.record = record


class TableauRefreshDataset(JsonRecordDataset):
    def __init__(
        self,
        filepath: str,
        run_id: str,
        tableau: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """``tableau``: the settings (``TableauSettings``) with their own ``credentials``; ``credentials``: the
        database that holds ``ops.tableau_refreshes`` (``None``: no records are kept)."""
        super().__init__(filepath, metadata)
        self._run_id = str(run_id)
        tableau = dict(tableau or {})
        secrets = dict(tableau.pop("credentials", None) or {})
        self._tableau = {**tableau, **{k: v for k, v in secrets.items() if v not in (None, "")}}
        self._records = credentials

    def settings(self) -> TableauSettings | None:
        """The validated settings (``None``: no server configured); raises ConfigError when they are wrong."""
        return TableauSettings.from_config(self._tableau)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "table": "ops.tableau_refreshes", "run_id": self._run_id}

    def _save(self, request: dict[str, Any]) -> None:
        super()._save(request)
        outcome = self._load()
        if outcome["status"] == "failed":
            bad = [i for i in outcome["items"] if i["status"] != "succeeded"]
            raise TableauRefreshFailed(
                f"Tableau refresh failed for {len(bad)} of {len(outcome['items'])} item(s): {outcome['reason']}",
                outcome,
            )

    def _act(self, request: dict[str, Any]) -> dict[str, Any]:
        outcome = {**request, "run_id": self._run_id, "items": []}
        if not request.get("publish", True):
            logger.warning("Tableau refresh BLOCKED: %s", request.get("reason"))
            return {**outcome, "status": "blocked"}
        settings = self.settings()
        if settings is None or not settings.items:
            reason = (
                SKIP_REASON if settings is None else "Tableau server configured but its items list is empty"
            )
            logger.warning("Tableau refresh SKIPPED: %s", reason)
            return {**outcome, "status": "skipped", "reason": reason}
        outcome.update(via=settings.via, tableau_server=safe_url(settings.server_url), site=settings.site)
        store = _RefreshRecords(self._records, self._run_id, settings.via)
        known = store.load()
        try:
            if settings.via == "n8n":
                items = refresh_items_via_n8n(
                    settings, list(settings.items), run_id=self._run_id, known=known
                )
            else:
                items = refresh_items(settings, list(settings.items), known=known, on_started=store.save)
        except TableauRefreshError as exc:  # sign-in or connection: every item failed for the same reason
            logger.error("Tableau refresh FAILED: %s", exc)
            items = [{**empty_record(item), "error": str(exc)} for item in settings.items]
        for item, confirmation in zip(settings.items, items, strict=True):
            store.save(item, confirmation)
        bad = [i for i in items if i["status"] != "succeeded"]
        reason = "; ".join(
            f"{i['item_type']} {i['item_name'] or i['item_id']!r}: {i['status']} ({i['error']})" for i in bad
        )
        redact = Redactor.from_config(settings)
        return {
            **outcome,
            "items": redact(items),
            "status": "failed" if bad else "succeeded",
            "reason": redact(reason) or None,
        }


class _RefreshRecords:
    """``ops.tableau_refreshes`` for one run; without a database it does nothing, and a failed write is logged."""

    def __init__(self, credentials: dict[str, Any] | None, run_id: str, via: str) -> None:
        self.url = db.resolve_url(credentials) if credentials is not None else None
        self.run_id, self.via = run_id, via

    def load(self) -> dict[str, dict[str, Any]]:
        if not self.url:
            return {}
        try:
            with db.connect(self.url) as conn:
                return load_refreshes(conn, self.run_id)
        except Exception as exc:  # noqa: BLE001 - Tableau's 409093 still prevents a second refresh
            logger.warning("Earlier refresh records not read: %s", redact_url(type(exc).__name__, self.url))
            return {}

    def save(self, item: dict[str, Any], record: dict[str, Any]) -> None:
        if not self.url:
            return
        try:
            with db.transaction(self.url) as conn:
                save_refresh(conn, self.run_id, item_key(item), record, self.via)
        except Exception as exc:  # noqa: BLE001 - logged; the final save repeats it
            logger.warning(
                "Refresh record for %s not written: %s",
                item_key(item),
                redact_url(type(exc).__name__, self.url),
            )


def ensure_table(conn) -> None:
    conn.execute("select pg_advisory_xact_lock(hashtext('sellout.tableau_refreshes.ddl'))")
    for statement in DDL:
        conn.execute(statement)


def save_refresh(conn, run_id: str, key: str, record: dict[str, Any], via: str) -> None:
    """Upsert one item's refresh record (``started`` as soon as the job exists, then its outcome)."""
    ensure_table(conn)
    values = {column: record.get(column) for column in RECORD_COLUMNS}
    values.update(
        run_id=run_id,
        item_key=key,
        via=via,
        followed_existing_job=bool(record.get("followed_existing_job")),
        status=record.get("status") or "started",
    )
    conn.execute(
        """
        insert into ops.tableau_refreshes (run_id, item_key, item_type, item_id, item_name, via, job_id,
                                           followed_existing_job, status, started_at, completed_at,
                                           finish_code, error)
        values (%(run_id)s, %(item_key)s, %(item_type)s, %(item_id)s, %(item_name)s, %(via)s, %(job_id)s,
                %(followed_existing_job)s, %(status)s, %(started_at)s, %(completed_at)s, %(finish_code)s,
                %(error)s)
        on conflict (run_id, item_key) do update set
            item_type = excluded.item_type, item_id = excluded.item_id, item_name = excluded.item_name,
            via = excluded.via, job_id = coalesce(excluded.job_id, ops.tableau_refreshes.job_id),
            followed_existing_job = excluded.followed_existing_job, status = excluded.status,
            started_at = excluded.started_at, completed_at = excluded.completed_at,
            finish_code = excluded.finish_code, error = excluded.error, updated_at = now()
        """,
        values,
    )


def load_refreshes(conn, run_id: str) -> dict[str, dict[str, Any]]:
    """The refresh records of a run by item key (what a retried task already started or confirmed)."""
    if conn.execute("select to_regclass('ops.tableau_refreshes')").fetchone()[0] is None:
        return {}
    cur = conn.execute(
        f"select item_key, {', '.join(RECORD_COLUMNS)} from ops.tableau_refreshes where run_id = %s",
        (run_id,),
    )
    names = [c.name for c in cur.description]
    out = {}
    for row in cur.fetchall():
        record = dict(zip(names, row, strict=True))
        for key in ("started_at", "completed_at"):
            if record[key] is not None:
                record[key] = record[key].isoformat()
        out[record.pop("item_key")] = record
    return out
