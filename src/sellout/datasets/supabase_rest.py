"""A Kedro dataset for a small table reached through the Supabase REST API (PostgREST, via supabase-py).

For teams that may reach a table only with an API key (run status, refresh status); bulk data goes through
``PostgresTableDataset``. Catalog entry::

    run_status_api:
      type: sellout.datasets.SupabaseTableDataset
      table: pipeline_runs
      schema: ops                       # must be an exposed schema of the project's API
      credentials: supabase             # {url: https://<ref>.supabase.co, key: <service or anon key>}
      load_args: {columns: [run_id, status], filters: {status: eq.failed}, order: started_at.desc, limit: 50}
      save_args: {mode: upsert, on_conflict: [run_id]}

A save of at most ``save_args.chunk_rows`` rows (default 1000) is one request, which PostgREST runs in one
transaction; larger frames are sent in several requests.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from postgrest.exceptions import APIError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

logger = logging.getLogger(__name__)

PAGE_ROWS = 1000
RETRY_ATTEMPTS = 3


class SupabaseTableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    def __init__(
        self,
        table: str,
        credentials: dict[str, Any],
        schema: str = "public",
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not credentials or not credentials.get("url") or not credentials.get("key"):
            raise DatasetError(f"Supabase dataset for {schema}.{table}: credentials need 'url' and 'key'")
        self._table = table
        self._schema = schema
        self._credentials = credentials
        self._load_args = dict(load_args or {})
        self._save_args = {"mode": "upsert", "chunk_rows": PAGE_ROWS, **(save_args or {})}
        self.metadata = metadata
        if self._save_args["mode"] not in ("insert", "upsert"):
            raise DatasetError(f"Supabase dataset for {schema}.{table}: save mode is 'insert' or 'upsert'")
        self._client = None

    def _describe(self) -> dict[str, Any]:
        # never the key; the URL only as its host
        host = httpx.URL(self._credentials["url"]).host
        return {"host": host, "schema": self._schema, "table": self._table, "mode": self._save_args["mode"]}

    @property
    def client(self):
        if self._client is None:
            from supabase import ClientOptions, create_client  # noqa: PLC0415 - slow to import; few runs use it

            self._client = create_client(
                self._credentials["url"], self._credentials["key"], options=ClientOptions(schema=self._schema)
            )
        return self._client

    def _load(self) -> pd.DataFrame:
        records: list[dict[str, Any]] = []
        limit = self._load_args.get("limit")
        page = int(self._load_args.get("page_rows", PAGE_ROWS))
        while True:
            size = page if limit is None else min(page, int(limit) - len(records))
            if size <= 0:
                break
            query = self._select_query().range(len(records), len(records) + size - 1)
            rows = self._execute(query, "read", idempotent=True).data
            records.extend(rows)
            if len(rows) < size:
                break
        columns = self._load_args.get("columns")
        return (
            pd.DataFrame.from_records(records, columns=columns)
            if columns
            else pd.DataFrame.from_records(records)
        )

    def _select_query(self):
        columns = self._load_args.get("columns") or ["*"]
        query = self.client.table(self._table).select(",".join(columns))
        for column, condition in (self._load_args.get("filters") or {}).items():
            operator, _, value = str(condition).partition(".")
            if not value:
                raise DatasetError(f"filter for {column!r} must look like 'eq.value', got {condition!r}")
            query = query.filter(column, operator, value)
        if self._load_args.get("order"):
            column, _, direction = str(self._load_args["order"]).partition(".")
            query = query.order(column, desc=direction == "desc")
        return query

    def _save(self, data: pd.DataFrame) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DatasetError(f"Supabase dataset saves a pandas DataFrame, got {type(data).__name__}")
        records = json.loads(data.to_json(orient="records", date_format="iso", date_unit="us"))
        step = int(self._save_args["chunk_rows"])
        for start in range(0, len(records), step):
            chunk = records[start : start + step]
            table = self.client.table(self._table)
            if self._save_args["mode"] == "upsert":
                on_conflict = ",".join(self._save_args.get("on_conflict") or [])
                query = table.upsert(chunk, on_conflict=on_conflict, returning="minimal")
            else:
                query = table.insert(chunk, returning="minimal")
            # an upsert may be sent again after a 5xx or a dropped connection; an insert may not
            self._execute(query, "write", idempotent=self._save_args["mode"] == "upsert")

    def _execute(self, query, action: str, idempotent: bool):
        """Run ``query``; an idempotent one is tried again after a 5xx or a dropped connection."""

        def transient(exc: BaseException) -> bool:
            server_error = isinstance(exc, APIError) and (_status_of(exc) or 0) >= 500
            return idempotent and (server_error or isinstance(exc, httpx.TransportError))

        attempts = Retrying(
            retry=retry_if_exception(transient),
            stop=stop_after_attempt(RETRY_ATTEMPTS),
            wait=wait_exponential(multiplier=0.4),
            reraise=True,
        )
        try:
            return attempts(query.execute)
        except APIError as exc:
            raise DatasetError(
                f"Supabase API could not {action} {self._schema}.{self._table}: "
                f"{exc.message} (code {exc.code}){f'; {exc.hint}' if exc.hint else ''}"
            ) from None
        except httpx.TransportError as exc:
            raise DatasetError(
                f"Supabase API at {httpx.URL(self._credentials['url']).host} unreachable "
                f"(tried {RETRY_ATTEMPTS if idempotent else 1} time(s)): {type(exc).__name__}"
            ) from None


def _status_of(exc) -> int | None:
    code = str(getattr(exc, "code", "") or "")
    return int(code) if code.isdigit() else None
