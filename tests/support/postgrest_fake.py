"""A local server that answers the Supabase REST API (``/rest/v1``) as PostgREST does, backed by a real
PostgreSQL database: rows are read with SQL and written with ``json_populate_recordset``, as PostgREST does,
so types, constraints and errors are the database's own.

Covers what the project uses: select with columns, ``col=op.value`` filters (eq, neq, gt, gte, lt, lte, is, in),
order, ``offset``/``limit``; POST inserts and upserts (``Prefer: resolution=merge-duplicates`` with
``on_conflict``); the ``apikey`` header; ``Accept-Profile``/``Content-Profile`` schemas; PostgREST's JSON errors.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg import sql

OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PostgrestFake:
    def __init__(self, db_url: str, api_key: str, fail_next: list[int] | None = None) -> None:
        self.db_url = db_url
        self.api_key = api_key
        self.requests: list[dict] = []
        self.fail_next = list(fail_next or [])  # HTTP statuses to answer before serving normally
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PostgrestFake:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    fake: PostgrestFake

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.fake.requests.append(
            {
                "method": method,
                "path": parts.path,
                "query": parts.query,
                "headers": dict(self.headers),
                "body": body,
            }
        )
        if self.fake.fail_next:
            status = self.fake.fail_next.pop(0)
            return self._reply(status, {"message": "upstream unavailable", "code": str(status)})
        if self.headers.get("apikey") != self.fake.api_key:
            return self._reply(
                401, {"code": "PGRST301", "message": "Invalid API key", "details": None, "hint": None}
            )
        match = re.fullmatch(r"/rest/v1/([A-Za-z_][A-Za-z0-9_]*)", parts.path)
        if not match:
            return self._reply(404, {"code": "PGRST125", "message": "Invalid path specified in request URL"})
        schema = self.headers.get("Accept-Profile" if method == "GET" else "Content-Profile") or "public"
        table = sql.Identifier(schema, match.group(1))
        params = parse_qsl(parts.query, keep_blank_values=True)
        try:
            with psycopg.connect(self.fake.db_url) as conn:
                if not conn.execute("select to_regclass(%s)", (f"{schema}.{match.group(1)}",)).fetchone()[0]:
                    return self._reply(
                        404,
                        {
                            "code": "PGRST205",
                            "message": f"Could not find the table '{schema}.{match.group(1)}' in the schema cache",
                        },
                    )
                if method == "GET":
                    return self._reply(200, _select(conn, table, params))
                _write(conn, table, params, json.loads(body or b"[]"), self.headers.get("Prefer", ""))
                return self._reply(201, None)
        except psycopg.Error as exc:
            diag = exc.diag
            status = 409 if diag.sqlstate and diag.sqlstate.startswith("23") else 400
            return self._reply(
                status,
                {
                    "code": diag.sqlstate,
                    "message": diag.message_primary,
                    "details": diag.message_detail,
                    "hint": diag.message_hint,
                },
            )

    def _reply(self, status: int, payload) -> None:
        data = b"" if payload is None else json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _select(conn, table, params) -> list[dict]:
    columns = sql.SQL("*")
    conditions, values, order, limit, offset = [], [], None, None, None
    for key, value in params:
        if key == "select":
            if value != "*":
                columns = sql.SQL(", ").join(sql.Identifier(_name(c)) for c in value.split(","))
        elif key == "order":
            column, _, direction = value.partition(".")
            order = sql.SQL("{} {}").format(
                sql.Identifier(_name(column)), sql.SQL("desc" if direction.startswith("desc") else "asc")
            )
        elif key == "limit":
            limit = int(value)
        elif key == "offset":
            offset = int(value)
        else:
            operator, _, operand = value.partition(".")
            column = sql.Identifier(_name(key))
            if operator in OPERATORS:
                conditions.append(sql.SQL("{} {} %s").format(column, sql.SQL(OPERATORS[operator])))
                values.append(operand)
            elif operator == "is" and operand == "null":
                conditions.append(sql.SQL("{} is null").format(column))
            elif operator == "in":
                conditions.append(sql.SQL("{}::text = any(%s)").format(column))
                values.append(operand.strip("()").split(","))
            else:
                raise psycopg.errors.InvalidParameterValue(f"unsupported operator {operator!r}")
    query = sql.SQL("select coalesce(json_agg(t), '[]') from (select {} from {}").format(columns, table)
    if conditions:
        query += sql.SQL(" where ") + sql.SQL(" and ").join(conditions)
    if order is not None:
        query += sql.SQL(" order by ") + order
    if limit is not None:
        query += sql.SQL(f" limit {limit}")
    if offset is not None:
        query += sql.SQL(f" offset {offset}")
    query += sql.SQL(") t")
    return conn.execute(query, values).fetchone()[0]


def _write(conn, table, params, rows, prefer: str) -> None:
    if isinstance(rows, dict):
        rows = [rows]
    columns = [_name(c) for c in (dict(params).get("columns") or "").split(",") if c] or sorted(
        {k for r in rows for k in r}
    )
    column_list = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    query = sql.SQL(
        "insert into {t} ({c}) select {c} from json_populate_recordset(null::{t}, %s::json)"
    ).format(t=table, c=column_list)
    if "resolution=merge-duplicates" in prefer:
        keys = [_name(c) for c in dict(params).get("on_conflict", "").split(",") if c]
        updates = [c for c in columns if c not in keys]
        query += sql.SQL(" on conflict ({}) do update set {}").format(
            sql.SQL(", ").join(sql.Identifier(k) for k in keys),
            sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in updates),
        )
    conn.execute(query, (json.dumps(rows),))


def _name(value: str) -> str:
    value = value.strip().strip('"')
    if not NAME.match(value):
        raise psycopg.errors.InvalidParameterValue(f"invalid column name {value!r}")
    return value
