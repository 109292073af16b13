"""Loads parsed retailer files into the raw tables, one file per transaction.

Saving a ``ParsedFile`` writes its manifest row, its good rows, its rejected rows (or its master data) in one
transaction, so a file is either wholly loaded or not at all; a quarantined file is copied with its reason
beside it before its manifest row commits. Loading the dataset returns the manifest.

A file whose rows the database refuses (a value out of a column's range, text PostgreSQL cannot store) is a
problem of that file: its transaction rolls back and the file is quarantined with the line and column, and the
run carries on. Only the database itself failing (connection lost, disk full) stops the run.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
from kedro.io import AbstractDataset, DatasetError

from sellout.canonical import DUPLICATE, LOADED, MANIFEST_STATUSES
from sellout.datasets import raw_tables
from sellout.datasets.copy_codec import NulCharacterError
from sellout.datasets.copy_in import copy_frame
from sellout.ingest.results import ParsedFile
from sellout.integrations import db

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    "file_id",
    "source",
    "kind",
    "file_name",
    "sha256",
    "size_bytes",
    "rows_in_file",
    "rows_loaded",
    "rows_rejected",
    "status",
    "reason",
    "first_week",
    "last_week",
    "run_id",
    "loaded_at",
]
MASTER_TABLES = {
    "stores": ("raw.stores", raw_tables.STORE_COLUMNS),
    "products": ("raw.products", raw_tables.PRODUCT_COLUMNS),
}


MASTER_CODES_SQL = """
select source, 'stores' as kind, store_code as code from raw.stores
union all
select source, 'products' as kind, product_code as code from raw.products
"""


class RawFileLoadDataset(AbstractDataset[ParsedFile, pd.DataFrame]):
    """Saves ParsedFiles; loads the manifest (``read: manifest``) or the known master-data codes
    (``read: master_codes``: source, kind, code)."""

    def __init__(
        self,
        quarantine_dir: str,
        credentials: dict[str, Any] | str | None = None,
        read: str = "manifest",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
        if read not in ("manifest", "master_codes"):
            raise DatasetError(f"RawFileLoadDataset: read is 'manifest' or 'master_codes', got {read!r}")
        self._quarantine_dir = Path(quarantine_dir)
        self._credentials = credentials
        self._read = read
        self._connection = (
            None  # kept open across the saves of one run: a file per transaction, not per connect
        )

    def _conn(self):
        """The dataset's connection, opened (and the schema ensured) on first use, reopened if it broke."""
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._connection = db.connect(db.resolve_url(self._credentials), autocommit=True)
            # Each file is still one atomic transaction; after a server crash the last few commits may be lost,
            # and with them their manifest rows, so the next run loads those files again.
            self._connection.execute("set synchronous_commit = off")
            with self._connection.transaction():
                raw_tables.ensure_schema(self._connection)
        return self._connection

    def _release(self) -> None:
        super()._release()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _describe(self) -> dict[str, Any]:
        return {
            "tables": ["ops.ingested_files", "raw.sellout_lines", "raw.rejected_rows"],
            "quarantine": str(self._quarantine_dir),
        }

    def _load(self) -> pd.DataFrame:
        conn = self._conn()
        with conn.transaction():
            if self._read == "master_codes":
                codes = conn.execute(MASTER_CODES_SQL).fetchall()
                return pd.DataFrame.from_records(codes, columns=["source", "kind", "code"])
            rows = conn.execute(
                f"select {', '.join(MANIFEST_COLUMNS)} from ops.ingested_files order by file_id"
            ).fetchall()
        return pd.DataFrame.from_records(rows, columns=MANIFEST_COLUMNS)

    def _save(self, parsed: ParsedFile) -> None:
        if not isinstance(parsed, ParsedFile):
            raise DatasetError(f"raw file loads take ParsedFile objects, got {type(parsed).__name__}")
        if parsed.status not in MANIFEST_STATUSES:
            raise DatasetError(f"unknown manifest status {parsed.status!r}; known: {MANIFEST_STATUSES}")
        if parsed.quarantine_reason:
            self._quarantine(parsed)
        conn = self._conn()
        try:
            with conn.transaction():
                if parsed.replace_existing and parsed.status != DUPLICATE:
                    _forget_previous_loads(conn, parsed)
                file_id = _insert_manifest_row(conn, parsed)
                if parsed.status == LOADED:
                    _write_rows(conn, parsed, file_id)
        except FileRefused as exc:
            # the transaction rolled back: nothing of the file is in the tables; it is quarantined instead
            refused = dataclasses.replace(
                parsed,
                quarantine_reason=str(exc),
                rows=pd.DataFrame(),
                rejected=pd.DataFrame(),
                replace_existing=False,
            )
            self._quarantine(refused)
            with conn.transaction():
                _insert_manifest_row(conn, refused)

    def _quarantine(self, parsed: ParsedFile) -> None:
        landing = parsed.landing
        target_dir = self._quarantine_dir / landing.source
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / landing.file_name
        if (
            not landing.path.exists()
        ):  # gone since the folder was scanned: the manifest row is all that is left
            logger.warning("Quarantined %s, which has left the landing folder meanwhile", landing.path)
        else:
            shutil.copy2(landing.path, target.with_suffix(target.suffix + ".partial"))
            target.with_suffix(target.suffix + ".partial").replace(target)
        target.with_name(target.name + ".reason.txt").write_text(
            f"file: {landing.path}\nsha256: {landing.sha256}\nrun_id: {parsed.run_id}\nreason: {parsed.quarantine_reason}\n",
            encoding="utf-8",
        )
        if landing.keep_in_place:
            logger.warning(
                "Quarantined %s/%s (the file stays in its archive folder): %s",
                landing.source,
                landing.file_name,
                parsed.quarantine_reason,
            )
            return
        try:
            landing.path.unlink(missing_ok=True)
        except OSError as exc:  # a read-only landing folder keeps its file; the manifest stops a reload
            logger.warning(
                "Quarantined %s but could not remove it from the landing folder: %s", landing.path, exc
            )
        logger.warning("Quarantined %s/%s: %s", landing.source, landing.file_name, parsed.quarantine_reason)


def _forget_previous_loads(conn, parsed: ParsedFile) -> None:
    landing = parsed.landing
    previous = [
        row[0]
        for row in conn.execute(
            "delete from ops.ingested_files where source = %s and sha256 = %s returning file_id",
            (landing.source, landing.sha256),
        ).fetchall()
    ]
    if previous:
        conn.execute("delete from raw.sellout_lines where file_id = any(%s)", (previous,))
        conn.execute("delete from raw.rejected_rows where file_id = any(%s)", (previous,))


def _insert_manifest_row(conn, parsed: ParsedFile) -> int:
    landing = parsed.landing
    weeks = (
        parsed.rows["week_end_date"] if "week_end_date" in parsed.rows else pd.Series(dtype="datetime64[ns]")
    )
    first_week = weeks.min().date() if len(weeks) else None
    last_week = weeks.max().date() if len(weeks) else None
    row = conn.execute(
        """
        insert into ops.ingested_files
            (source, kind, file_name, sha256, size_bytes, rows_in_file, rows_loaded, rows_rejected,
             status, reason, first_week, last_week, run_id)
        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        returning file_id
        """,
        (
            landing.source,
            landing.kind,
            landing.file_name,
            landing.sha256,
            landing.size_bytes,
            parsed.rows_in_file,
            parsed.rows_loaded,
            len(parsed.rejected) if parsed.status == LOADED else parsed.rows_in_file,
            parsed.status,
            _storable(
                f"same content as {parsed.duplicate_of}" if parsed.duplicate_of else parsed.quarantine_reason
            ),
            first_week,
            last_week,
            parsed.run_id,
        ),
    ).fetchone()
    return int(row[0])


def _write_rows(conn, parsed: ParsedFile, file_id: int) -> None:
    landing = parsed.landing
    if landing.kind in MASTER_TABLES:
        table, columns = MASTER_TABLES[landing.kind]
        conn.execute(f"delete from {table} where source = %s", (landing.source,))
        frame = _with_constants(parsed.rows, columns, file_id=None, source=landing.source)
        _copy(conn, table, frame, parsed.rows)
    else:
        frame = _with_constants(
            parsed.rows, raw_tables.RAW_SELLOUT_COLUMNS, file_id=file_id, source=landing.source
        )
        _copy(conn, "raw.sellout_lines", frame, parsed.rows)
    if len(parsed.rejected):
        rejected = _with_constants(
            parsed.rejected,
            raw_tables.REJECTED_COLUMNS,
            file_id=file_id,
            source=landing.source,
            file_name=landing.file_name,
        )
        _copy(conn, "raw.rejected_rows", rejected, parsed.rejected)


def _with_constants(rows: pd.DataFrame, columns: list[str], **constants: Any) -> pd.DataFrame:
    """``rows``' columns among ``columns`` (in that order) plus one value per row for each constant; a column
    that ``rows`` lacks is left to the table's default (NULL, false, 'units', ...)."""
    n = len(rows)
    data: dict[str, Any] = {}
    for name in columns:
        if name in constants:
            value = constants[name]
            if value is None:
                continue
            data[name] = (
                np.full(n, value, dtype=np.int64)
                if isinstance(value, int)
                else pd.arrays.ArrowStringArray(pa.chunked_array([pa.array([value] * n, pa.large_string())]))
            )
        elif name in rows:
            data[name] = rows[name].to_numpy() if rows[name].dtype.kind in "biufM" else rows[name].array
    return pd.DataFrame(data, copy=False)


def _without_defaults(rows: pd.DataFrame, defaults: dict[str, object]) -> pd.DataFrame:
    """``rows`` without the columns whose every value is the table's default for them."""
    dropped = []
    for name, default in defaults.items():
        if name not in rows:
            continue
        column = rows[name]
        if default is None:
            same = bool(column.isna().all())
        elif isinstance(default, bool) and column.dtype == bool:
            values = column.to_numpy()
            same = not values.any() if default is False else bool(values.all())
        else:
            same = bool((column == default).all())
        if same:
            dropped.append(name)
    return rows.drop(columns=dropped) if dropped else rows


class FileRefused(Exception):
    """The database refused a file's rows for what they hold (not for its own state): quarantine the file."""


_COPY_CONTEXT = re.compile(r"COPY \S+, line (\d+)(?:, column (\w+))?")


def _copy(conn, table: str, frame: pd.DataFrame, rows: pd.DataFrame) -> None:
    """``copy_frame``, with a refusal the file caused (a value out of range, text the server cannot store)
    raised as FileRefused naming the file's line and column; a failure of the database itself passes through."""
    try:
        copy_frame(conn, table, frame)
    except NulCharacterError as exc:
        raise FileRefused(
            f"{_line_of(rows, exc.row)}column {exc.column!r} holds a NUL character (U+0000), which "
            f"the database cannot store ({table})"
        ) from exc
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        context = (exc.diag.context or "") if exc.diag else ""
        match = _COPY_CONTEXT.search(context)
        where = ""
        if match:
            where = _line_of(rows, int(match.group(1)) - 1) + (
                f"column {match.group(2)!r}: " if match.group(2) else ""
            )
        message = (exc.diag.message_primary if exc.diag else None) or str(exc).splitlines()[0]
        raise FileRefused(f"{where}the database refused the rows ({table}): {message}") from exc
    except (pa.ArrowInvalid, pa.ArrowTypeError, DatasetError) as exc:
        raise FileRefused(f"the rows cannot be written ({table}): {str(exc).splitlines()[0]}") from exc


def _storable(text: str | None) -> str | None:
    """A reason PostgreSQL can store: a NUL (from a file's header, say) written as ``\\x00``."""
    return None if text is None else text.replace("\x00", "\\x00")


def _line_of(rows: pd.DataFrame, row: int) -> str:
    if "line_no" in rows and 0 <= row < len(rows):
        return f"line {int(rows['line_no'].iloc[row])}, "
    return ""
