"""Bulk loads: a DataFrame into a table with ``COPY FROM STDIN``, in binary when it can be exact, else CSV."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import pandas as pd
from psycopg.pq import TransactionStatus

from sellout.datasets.copy_binary import binary_plan, frame_to_binary_chunks
from sellout.datasets.copy_codec import COPY_IN_OPTIONS, arrow_chunks, table_to_csv
from sellout.integrations import db

logger = logging.getLogger(__name__)

COPY_CHUNK_ROWS = 50_000
# Below this, Arrow's CSV writer costs less than the binary encoder's fixed numpy steps: one COPY of sell-out rows
# with long-digit prices took 8.2 ms binary / 6.6 ms CSV at 3,300 rows, 29.1 / 29.9 ms at 20,000, 64.8 / 72.5 ms
# at 50,000 (1,000,000 rows: 0.68 / 1.0 s).
BINARY_MIN_ROWS = 20_000
T = TypeVar("T")
_DONE = object()


def copy_frame(
    conn,
    table: str,
    data: pd.DataFrame,
    chunk_rows: int = COPY_CHUNK_ROWS,
    binary_min_rows: int | None = None,
) -> None:
    """Bulk-load ``data`` into ``table`` (``schema.table``, or a ``_temp`` table) with ``COPY FROM STDIN``.

    Binary COPY when the frame has ``binary_min_rows`` (default ``BINARY_MIN_ROWS``) rows or more and every column has an exact binary
    encoding for its column type (the server then skips text parsing); CSV otherwise, and for smaller frames, where
    Arrow's CSV writer costs less than the binary encoder's numpy steps. When there is more than one chunk, a
    thread encodes the next one while this one loads.
    """
    if data.empty:
        return
    target = table if table.startswith("_") else db.quote_table(table)
    columns = ", ".join(db.quote_ident(c) for c in data.columns)
    target_types = column_types(conn, target)
    chunks = arrow_chunks(data, chunk_rows, target_types)
    if binary_min_rows is None:
        binary_min_rows = BINARY_MIN_ROWS
    encoders = binary_plan(data, target_types) if len(data) >= binary_min_rows else None
    if encoders is None:
        options, blocks = COPY_IN_OPTIONS, map(table_to_csv, chunks)
    else:
        options, blocks = "format binary", frame_to_binary_chunks(chunks, encoders)
    if len(data) > chunk_rows:
        blocks = one_ahead(blocks)
    with (
        _session_time_zone_utc(conn, when=encoders is None and "timestamptz" in target_types.values()),
        conn.cursor() as cur,
        cur.copy(f"copy {target} ({columns}) from stdin with ({options})") as copy,
    ):
        for block in blocks:
            copy.write(block)
    logger.debug("COPY %d rows into %s as %s", len(data), target, "CSV" if encoders is None else "binary")


@contextmanager
def _session_time_zone_utc(conn, when: bool) -> Iterator[None]:
    """The CSV path writes zoned timestamps as UTC wall time (``arrow_chunks``): the server must read them in UTC."""
    if not when:
        yield
        return
    previous = conn.execute("select current_setting('TimeZone')").fetchone()[0]
    conn.execute("select set_config('TimeZone', 'UTC', false)")
    try:
        yield
    finally:
        # after an error inside a transaction the rollback restores it (and no statement may run before)
        if conn.info.transaction_status != TransactionStatus.INERROR:
            conn.execute("select set_config('TimeZone', %s, false)", (previous,))


def column_types(conn, target: str) -> dict[str, str]:
    """Column name -> ``pg_type.typname`` of a table (``target`` quoted, or a temporary table's name)."""
    rows = conn.execute(
        "select a.attname, t.typname from pg_attribute a join pg_type t on t.oid = a.atttypid "
        "where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped",
        (target,),
    ).fetchall()
    return dict(rows)


def one_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, each produced by a worker thread while the caller consumes the one before."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy-encoder") as worker:
        pending = worker.submit(next, items, _DONE)
        while (item := pending.result()) is not _DONE:
            pending = worker.submit(next, items, _DONE)
            yield item
