"""A Kedro dataset for one PostgreSQL table (or a query), with bulk COPY writes.

Catalog entry::

    sellout_lines_raw:
      type: sellout.datasets.PostgresTableDataset
      table: raw.sellout_lines
      credentials: db
      columns: {week_end_date: date, store_code: text, units: numeric}   # DDL for a new table
      load_args: {columns: [...], where: "units > 0", query: "select ..."}
      save_args: {mode: append | replace | upsert | replace_partition, keys: [...], partition_columns: [...]}

Every save is one transaction: readers see the old table until the new rows are committed, and an error or a
killed process leaves the table as it was.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from sellout import db

logger = logging.getLogger(__name__)

WRITE_MODES = ("append", "replace", "upsert", "replace_partition")
COPY_CHUNK_ROWS = 100_000

PG_TYPE_TO_DTYPE = {
    "date": "datetime64[ns]",
    "timestamp without time zone": "datetime64[ns]",
    "boolean": "boolean",
    "integer": "Int64",
    "bigint": "Int64",
    "smallint": "Int64",
    "numeric": "float64",
    "double precision": "float64",
    "real": "float64",
}


def infer_pg_type(series: pd.Series) -> str:
    """The PostgreSQL type a new column gets when config names none."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return "text"


class PostgresTableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    def __init__(
        self,
        table: str,
        credentials: dict[str, Any] | str | None = None,
        columns: dict[str, str] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        db.quote_table(table)  # refuse a bad name at catalog load time
        for column in columns or {}:
            db.quote_ident(column)
        self._table = table
        self._credentials = credentials
        self._columns = dict(columns or {})
        self._load_args = dict(load_args or {})
        self._save_args = {"mode": "append", **(save_args or {})}
        self.metadata = metadata
        mode = self._save_args["mode"]
        if mode not in WRITE_MODES:
            raise DatasetError(
                f"Dataset for {table}: save mode {mode!r} is not one of {', '.join(WRITE_MODES)}"
            )
        if mode == "upsert" and not self._save_args.get("keys"):
            raise DatasetError(f"Dataset for {table}: save mode 'upsert' needs save_args.keys")
        if mode == "replace_partition" and not self._save_args.get("partition_columns"):
            raise DatasetError(f"Dataset for {table}: save mode 'replace_partition' needs partition_columns")

    # -- Kedro interface -------------------------------------------------------------------------------------

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "load_args": self._load_args, "mode": self._save_args["mode"]}

    @property
    def _url(self) -> str:
        return db.resolve_url(self._credentials)

    def _load(self) -> pd.DataFrame:
        query, params = self._select_sql()
        with db.connect(self._url) as conn, conn.cursor() as cur:
            cur.execute(query, params)
            names = [col.name for col in cur.description]
            type_names = [_type_name(conn, col.type_code) for col in cur.description]
            frame = pd.DataFrame.from_records(cur.fetchall(), columns=names)
        return _apply_dtypes(frame, dict(zip(names, type_names, strict=True)))

    def _save(self, data: pd.DataFrame) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DatasetError(
                f"Dataset for {self._table} saves a pandas DataFrame, got {type(data).__name__}"
            )
        for column in data.columns:
            db.quote_ident(column)
        mode = self._save_args["mode"]
        with db.transaction(self._url) as conn:
            self._ensure_table(conn, data)
            if mode == "append":
                copy_frame(conn, self._table, data)
            elif mode == "replace":
                conn.execute(f"truncate {db.quote_table(self._table)}")
                copy_frame(conn, self._table, data)
            elif mode == "replace_partition":
                self._delete_partitions(conn, data)
                copy_frame(conn, self._table, data)
            else:
                self._upsert(conn, data)
        logger.info("Saved %d rows to %s (%s)", len(data), self._table, mode)

    def _exists(self) -> bool:
        schema, table = db.split_table(self._table)
        with db.connect(self._url) as conn:
            row = conn.execute(
                "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
                (schema, table),
            ).fetchone()
        return row is not None

    # -- SQL --------------------------------------------------------------------------------------------------

    def _select_sql(self) -> tuple[str, dict[str, Any]]:
        params = dict(self._load_args.get("params") or {})
        if self._load_args.get("query"):
            return self._load_args["query"], params
        columns = self._load_args.get("columns")
        select = ", ".join(db.quote_ident(c) for c in columns) if columns else "*"
        sql = f"select {select} from {db.quote_table(self._table)}"
        if self._load_args.get("where"):
            sql += f" where {self._load_args['where']}"
        if self._load_args.get("order_by"):
            sql += " order by " + ", ".join(db.quote_ident(c) for c in self._load_args["order_by"])
        return sql, params

    def _ensure_table(self, conn, data: pd.DataFrame) -> None:
        schema, _ = db.split_table(self._table)
        conn.execute(f"create schema if not exists {db.quote_ident(schema)}")
        column_types = {name: self._columns.get(name) or infer_pg_type(data[name]) for name in data.columns}
        for name, pg_type in self._columns.items():
            column_types.setdefault(name, pg_type)
        ddl = ", ".join(f"{db.quote_ident(name)} {pg_type}" for name, pg_type in column_types.items())
        conn.execute(f"create table if not exists {db.quote_table(self._table)} ({ddl})")
        if self._save_args["mode"] == "upsert":
            keys = ", ".join(db.quote_ident(k) for k in self._save_args["keys"])
            index = db.quote_ident(f"{db.split_table(self._table)[1]}_upsert_key")
            conn.execute(
                f"create unique index if not exists {index} on {db.quote_table(self._table)} ({keys})"
            )

    def _delete_partitions(self, conn, data: pd.DataFrame) -> None:
        partition_columns = list(self._save_args["partition_columns"])
        partitions = data[partition_columns].drop_duplicates()
        if partitions.empty:
            return
        condition = " and ".join(f"{db.quote_ident(c)} = %s" for c in partition_columns)
        with conn.cursor() as cur:
            cur.executemany(
                f"delete from {db.quote_table(self._table)} where {condition}",
                [tuple(_to_python(v) for v in row) for row in partitions.itertuples(index=False)],
            )

    def _upsert(self, conn, data: pd.DataFrame) -> None:
        keys = list(self._save_args["keys"])
        staging = "_sellout_upsert_staging"
        conn.execute(
            f"create temp table {staging} (like {db.quote_table(self._table)} including defaults) on commit drop"
        )
        copy_frame(conn, staging, data)
        columns = ", ".join(db.quote_ident(c) for c in data.columns)
        updates = [c for c in data.columns if c not in keys]
        conflict = ", ".join(db.quote_ident(k) for k in keys)
        if updates:
            assignments = ", ".join(f"{db.quote_ident(c)} = excluded.{db.quote_ident(c)}" for c in updates)
            changed = " or ".join(
                f"{db.quote_table(self._table)}.{db.quote_ident(c)} is distinct from excluded.{db.quote_ident(c)}"
                for c in updates
            )
            action = f"do update set {assignments} where {changed}"
        else:
            action = "do nothing"
        conn.execute(
            f"insert into {db.quote_table(self._table)} ({columns}) select {columns} from {staging} "
            f"on conflict ({conflict}) {action}"
        )


def copy_frame(conn, table: str, data: pd.DataFrame) -> None:
    """Bulk-load ``data`` into ``table`` with ``COPY FROM STDIN`` (CSV), a chunk at a time."""
    if data.empty:
        return
    target = table if table.startswith("_") else db.quote_table(table)
    columns = ", ".join(db.quote_ident(c) for c in data.columns)
    sql = f"copy {target} ({columns}) from stdin with (format csv, null '\\N')"
    with conn.cursor() as cur, cur.copy(sql) as copy:
        for start in range(0, len(data), COPY_CHUNK_ROWS):
            chunk = data.iloc[start : start + COPY_CHUNK_ROWS]
            buffer = io.StringIO()
            chunk.to_csv(
                buffer, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%dT%H:%M:%S.%f%z"
            )
            copy.write(buffer.getvalue())


def _to_python(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _type_name(conn, oid: int) -> str:
    info = conn.adapters.types.get(oid)
    if info is None:
        return "text"
    return {
        "date": "date",
        "bool": "boolean",
        "int2": "smallint",
        "int4": "integer",
        "int8": "bigint",
        "numeric": "numeric",
        "float4": "real",
        "float8": "double precision",
        "timestamp": "timestamp without time zone",
        "timestamptz": "timestamptz",
    }.get(info.name, info.name)


def _apply_dtypes(frame: pd.DataFrame, pg_types: dict[str, str]) -> pd.DataFrame:
    for name, pg_type in pg_types.items():
        if pg_type == "timestamptz":
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif pg_type in PG_TYPE_TO_DTYPE:
            frame[name] = frame[name].astype(PG_TYPE_TO_DTYPE[pg_type])
    return frame
