"""A Kedro dataset for one PostgreSQL table (or a query): bulk COPY in and out, one transaction per save.

Catalog entry::

    forecasts:
      type: sellout.datasets.PostgresTableDataset
      table: forecast.forecasts
      credentials: db                         # {url: ...}; empty url = the embedded server
      columns: {run_id: text, target_week: date, forecast_units: double precision}   # DDL of a new table
      load_args:
        columns: [run_id, target_week]        # or query: "select ..." (with params: {...})
        where: "target_week >= %(since)s"
        params: {since: 2024-01-01}           # e.g. {run_id: "${runtime_params:run_id}"}: this run's rows
        text_as_category: true                # text columns as categoricals (repeated codes and names)
      save_args:
        mode: append | replace | upsert | replace_partition
        keys: [run_id, target_week]           # upsert
        partition_columns: [run_id]           # replace_partition
        mark: {table: forecast.model_runs, set: {published: true}}   # in the same transaction, for every
                                              # partition written: update that table's rows of the partition

Every save is one transaction: readers see the old rows until it commits, and an error or a killed process
leaves the table as it was. ``replace`` deletes and reloads inside that transaction (MVCC keeps readers on the
old rows) instead of TRUNCATE, which would block them. Rows go in by ``copy_in.copy_frame``: binary COPY when every
column has an exact binary encoding, CSV otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from sellout.datasets.copy_codec import COPY_OUT_OPTIONS, csv_to_frame, pg_type_for
from sellout.datasets.copy_in import copy_frame
from sellout.integrations import db

logger = logging.getLogger(__name__)

WRITE_MODES = ("append", "replace", "upsert", "replace_partition")


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
        db.quote_table(table)  # a bad name fails when the catalog loads, not mid-run
        for column in columns or {}:
            db.quote_ident(column)
        self._table = table
        self._credentials = credentials
        self._columns = dict(columns or {})
        self._load_args = dict(load_args or {})
        self._save_args = {"mode": "append", **(save_args or {})}
        self.metadata = metadata
        self._validate_args()

    def _validate_args(self) -> None:
        mode = self._save_args["mode"]
        where = f"Dataset for {self._table}"
        if mode not in WRITE_MODES:
            raise DatasetError(f"{where}: save mode {mode!r} is not one of {', '.join(WRITE_MODES)}")
        if mode == "upsert" and not self._save_args.get("keys"):
            raise DatasetError(f"{where}: save mode 'upsert' needs save_args.keys")
        if mode == "replace_partition" and not self._save_args.get("partition_columns"):
            raise DatasetError(f"{where}: save mode 'replace_partition' needs save_args.partition_columns")
        for key in ("keys", "partition_columns"):
            for column in self._save_args.get(key) or []:
                db.quote_ident(column)
        for column in self._load_args.get("columns") or []:
            db.quote_ident(column)
        mark = self._save_args.get("mark")
        if mark is not None:
            if (
                mode != "replace_partition"
                or not isinstance(mark, dict)
                or not mark.get("table")
                or not mark.get("set")
            ):
                raise DatasetError(
                    f"{where}: save_args.mark is {{table, set}} and goes with mode replace_partition"
                )
            db.quote_table(mark["table"])
            for column in mark["set"]:
                db.quote_ident(column)
        allowed = {"query", "columns", "where", "params", "order_by", "text_as_category"}
        unknown = sorted(set(self._load_args) - allowed)
        if unknown:
            raise DatasetError(f"{where}: unknown load_args {unknown}; use {', '.join(sorted(allowed))}")

    # -- Kedro interface -------------------------------------------------------------------------------------

    def _describe(self) -> dict[str, Any]:
        return {"table": self._table, "load_args": self._load_args, "save_args": self._save_args}

    @property
    def _url(self) -> str:
        return db.resolve_url(self._credentials)

    def _load(self) -> pd.DataFrame:
        query, params = self._select_sql()
        with db.connect(self._url) as conn:
            conn.execute("set time zone 'UTC'")
            columns = describe_query(conn, query, params)
            with (
                conn.cursor() as cur,
                cur.copy(f"copy ({query}) to stdout with ({COPY_OUT_OPTIONS})", params) as copy,
            ):
                return csv_to_frame(copy, columns, bool(self._load_args.get("text_as_category")))

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
                conn.execute(f"delete from {db.quote_table(self._table)}")
                copy_frame(conn, self._table, data)
            elif mode == "replace_partition":
                self._delete_partitions(conn, data)
                copy_frame(conn, self._table, data)
            else:
                self._upsert(conn, data)
            if self._save_args.get("mark"):
                self._mark(conn, data)
        logger.info("Saved %d rows to %s (%s)", len(data), self._table, mode)

    def _exists(self) -> bool:
        schema, table = db.split_table(self._table)
        with db.connect(self._url) as conn:
            row = conn.execute(
                "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
                (schema, table),
            ).fetchone()
        return row is not None

    # -- reads ------------------------------------------------------------------------------------------------

    def _select_sql(self) -> tuple[str, dict[str, Any]]:
        params = dict(self._load_args.get("params") or {})
        if self._load_args.get("query"):
            sql = self._load_args["query"]
            conditions = []
        else:
            columns = self._load_args.get("columns")
            select = ", ".join(db.quote_ident(c) for c in columns) if columns else "*"
            sql = f"select {select} from {db.quote_table(self._table)}"
            conditions = [f"({self._load_args['where']})"] if self._load_args.get("where") else []
        if conditions:
            sql = f"select * from ({sql}) as _source where {' and '.join(conditions)}"
        if self._load_args.get("order_by"):
            sql += " order by " + ", ".join(db.quote_ident(c) for c in self._load_args["order_by"])
        return sql, params

    # -- writes -----------------------------------------------------------------------------------------------

    def _ensure_table(self, conn, data: pd.DataFrame) -> None:
        schema, _ = db.split_table(self._table)
        conn.execute(f"create schema if not exists {db.quote_ident(schema)}")
        column_types = {name: self._columns.get(name) or pg_type_for(data[name]) for name in data.columns}
        for name, pg_type in self._columns.items():
            column_types.setdefault(name, pg_type)
        ddl = ", ".join(f"{db.quote_ident(name)} {pg_type}" for name, pg_type in column_types.items())
        conn.execute(f"create table if not exists {db.quote_table(self._table)} ({ddl})")
        for name, pg_type in self._columns.items():  # a table made before a column was declared gets it
            conn.execute(
                f"alter table {db.quote_table(self._table)} add column if not exists {db.quote_ident(name)} {pg_type}"
            )
        if self._save_args["mode"] == "upsert":
            keys = ", ".join(db.quote_ident(k) for k in self._save_args["keys"])
            index = db.quote_ident(f"{db.split_table(self._table)[1]}_upsert_key")
            conn.execute(
                f"create unique index if not exists {index} on {db.quote_table(self._table)} ({keys})"
            )

    def _mark(self, conn, data: pd.DataFrame) -> None:
        """``save_args.mark``: set columns of another table's rows of the partitions just written (e.g. a model run
        is published when its forecasts are), in the save's transaction."""
        mark = self._save_args["mark"]
        partition_columns = list(self._save_args["partition_columns"])
        assignments = ", ".join(f"{db.quote_ident(c)} = %({c})s" for c in mark["set"])
        match = " and ".join(f"{db.quote_ident(c)} = %(_p_{c})s" for c in partition_columns)
        for partition in data[partition_columns].drop_duplicates().to_dict("records"):
            params = {**mark["set"], **{f"_p_{c}": v for c, v in partition.items()}}
            conn.execute(f"update {db.quote_table(mark['table'])} set {assignments} where {match}", params)

    def _delete_partitions(self, conn, data: pd.DataFrame) -> None:
        """Delete every row whose partition key appears in ``data`` (one statement, via a temp table)."""
        partition_columns = list(self._save_args["partition_columns"])
        partitions = data[partition_columns].drop_duplicates()
        if partitions.empty:
            return
        target = db.quote_table(self._table)
        quoted = ", ".join(db.quote_ident(c) for c in partition_columns)
        conn.execute(
            f"create temp table _sellout_partitions on commit drop as select {quoted} from {target} with no data"
        )
        copy_frame(conn, "_sellout_partitions", partitions)
        match = " and ".join(
            f"{target}.{db.quote_ident(c)} = p.{db.quote_ident(c)}" for c in partition_columns
        )
        conn.execute(f"delete from {target} using _sellout_partitions p where {match}")

    def _upsert(self, conn, data: pd.DataFrame) -> None:
        """COPY into a temp table, then one INSERT ... ON CONFLICT that touches only new or changed rows."""
        keys = list(self._save_args["keys"])
        target = db.quote_table(self._table)
        conn.execute(f"create temp table _sellout_upsert (like {target} including defaults) on commit drop")
        copy_frame(conn, "_sellout_upsert", data)
        columns = [db.quote_ident(c) for c in data.columns]
        key_columns = [db.quote_ident(k) for k in keys]
        updates = [db.quote_ident(c) for c in data.columns if c not in keys]
        join = " and ".join(f"t.{k} = s.{k}" for k in key_columns)
        if updates:
            changed = " or ".join(f"t.{c} is distinct from s.{c}" for c in updates)
            action = "do update set " + ", ".join(f"{c} = excluded.{c}" for c in updates)
        else:
            changed = "false"
            action = "do nothing"
        conn.execute(
            f"insert into {target} ({', '.join(columns)}) "
            f"select {', '.join('s.' + c for c in columns)} from _sellout_upsert s "
            f"left join {target} t on {join} where t.{key_columns[0]} is null or {changed} "
            f"on conflict ({', '.join(key_columns)}) {action}"
        )


def describe_query(conn, query: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """Column names and PostgreSQL type names of ``query``, without running it."""
    with conn.cursor() as cur:
        cur.execute(f"select * from ({query}) as _q limit 0", params)
        return [(col.name, _type_name(conn, col.type_code)) for col in cur.description]


def _type_name(conn, oid: int) -> str:
    info = conn.adapters.types.get(oid)
    return info.name if info is not None else "text"
