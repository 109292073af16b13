"""DataFrames to and from PostgreSQL's COPY CSV format, through Arrow's C++ CSV reader and writer.

The format is chosen so that every value survives a round trip exactly:
- NULL is an unquoted empty field and every string is quoted, so an empty string, a string that reads ``\\N``
  and a NULL stay three different things (numbers, booleans and dates need no quotes and get none);
- floats are written in their shortest round-trip form, decimals as decimal text, timestamps with their zone;
- on the way back each column is parsed as the type the database says it has.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - registers pa.compute
import pyarrow.csv as pa_csv
from kedro.io import DatasetError

COPY_IN_OPTIONS = "format csv"
COPY_OUT_OPTIONS = "format csv"

# PostgreSQL type name -> (Arrow type to parse the CSV text as, pandas dtype of the loaded column)
_LOAD_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "date": (pa.timestamp("ns"), "datetime64[ns]"),
    "timestamp": (pa.timestamp("ns"), "datetime64[ns]"),
    "timestamptz": (pa.timestamp("ns", tz="UTC"), "datetime64[ns, UTC]"),
    "bool": (pa.bool_(), "boolean"),
    "int2": (pa.int64(), "Int64"),
    "int4": (pa.int64(), "Int64"),
    "int8": (pa.int64(), "Int64"),
    "float4": (pa.float64(), "float64"),
    "float8": (pa.float64(), "float64"),
    "numeric": (pa.float64(), "float64"),
}
_TEXT = (pa.large_string(), "str")
_CSV_WRITE_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")


def pg_type_for(series: pd.Series) -> str:
    """The column type a new table gets for ``series`` when the config names none."""
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


def arrow_chunks(
    frame: pd.DataFrame, chunk_rows: int, target_types: dict[str, str] | None = None
) -> Iterator[pa.Table]:
    """``frame`` as Arrow tables of ``chunk_rows`` rows (memory stays at one chunk), ready for either COPY format.

    ``target_types`` (column -> ``pg_type.typname``) narrows date and timestamp columns to what the column
    stores: dates without a time, timestamps to the microsecond, and zoned timestamps as UTC wall time without
    the zone (Arrow formats zoned timestamps 20x slower). A CSV COPY must therefore run with the session time zone
    set to UTC, as ``copy_in.copy_frame`` sees to. Text with a NUL character is refused with its column and row.
    """
    for start in range(0, len(frame), chunk_rows):
        chunk = frame.iloc[start : start + chunk_rows]
        try:
            # one thread: the chunk is small, and another thread is already loading the previous one
            table = pa.Table.from_pandas(chunk, preserve_index=False, nthreads=1)
            table = _narrow_times(table, target_types or {})
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DatasetError(f"cannot write rows {start}..{start + len(chunk) - 1}: {exc}") from None
        _refuse_nul_characters(table, start)
        yield table


def table_to_csv(table: pa.Table) -> bytes:
    """COPY-ready CSV bytes of one Arrow chunk."""
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, _CSV_WRITE_OPTIONS)
    return buffer.getvalue()


def _narrow_times(table: pa.Table, target_types: dict[str, str]) -> pa.Table:
    for index, field in enumerate(table.schema):
        if not pa.types.is_timestamp(field.type):
            continue
        target = target_types.get(field.name, "")
        if target == "date":
            narrowed = pa.compute.cast(table.column(index), pa.date32(), safe=False)
        elif target.startswith("timestamp") or field.type.tz is not None:
            narrowed = pa.compute.cast(table.column(index), pa.timestamp("us"), safe=False)
        else:
            continue
        table = table.set_column(index, field.name, narrowed)
    return table


def csv_to_frame(
    data: bytes | bytearray | memoryview | Iterable[bytes],
    columns: list[tuple[str, str]],
    text_as_category: bool = False,
) -> pd.DataFrame:
    """Parse COPY CSV output whose columns are ``[(name, postgres type name), ...]``: bytes, or the blocks of
    a ``COPY ... TO STDOUT`` as they arrive (parsed while they come: the whole text is never held).
    ``text_as_category``: text columns become categoricals (their categories in the order they first appear):
    a code per row, each distinct text once, for tables whose text repeats (keys, codes, names)."""
    names = [name for name, _ in columns]
    arrow_types = {}
    dtypes = {}
    for name, type_name in columns:
        arrow_type, dtype = _LOAD_TYPES.get(type_name, _TEXT)
        if text_as_category and (arrow_type, dtype) == _TEXT:
            arrow_type, dtype = pa.dictionary(pa.int32(), pa.string()), ""
        arrow_types[name] = arrow_type
        dtypes[name] = dtype
    blocks = iter([data] if isinstance(data, bytes | bytearray | memoryview) else data)
    first = next((block for block in blocks if len(block)), None)
    if first is None:
        return pd.DataFrame({name: pd.Series([], dtype=dtypes[name] or "category") for name in names})
    table = pa_csv.read_csv(
        io.BufferedReader(_BlockStream(_coalesced(itertools.chain([first], blocks))), buffer_size=1 << 20),
        read_options=pa_csv.ReadOptions(column_names=names, block_size=1 << 24),
        # ignore_empty_lines=False: in a one-column table an empty line is a NULL row
        parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pa_csv.ConvertOptions(
            column_types=arrow_types,
            null_values=[""],  # PostgreSQL writes NULL as an unquoted empty field, and only that
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    # Nullable integers and booleans straight to pandas' masked types: through float64 large integers lose digits.
    # self_destruct: each Arrow column is freed once converted (the table and the frame are not held together).
    frame = table.to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get,
        self_destruct=True,
        split_blocks=True,
    )
    del table
    for name in names:
        if dtypes[name] and str(frame[name].dtype) != dtypes[name]:
            frame[name] = frame[name].astype(dtypes[name])
    return frame


def _coalesced(blocks: Iterable[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """The blocks joined into pieces of about ``size`` bytes: COPY TO STDOUT yields one block per row, and a
    stream read a row at a time cost 1.5 s a million rows (10.5 million rows of 20 times dunnhumby). Copied
    into one buffer as they come: holding a piece's rows' blocks until a join cost more than the copy."""
    pending = bytearray()
    for block in blocks:
        pending += block
        if len(pending) >= size:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


class _BlockStream(io.RawIOBase):
    """A readable stream over byte blocks (what COPY TO STDOUT yields), for Arrow's CSV reader."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, out) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = memoryview(block)
        n = min(len(out), len(self._pending))
        out[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class NulCharacterError(DatasetError):
    """A text value holds U+0000, which PostgreSQL text cannot store: ``column`` and ``row`` (0-based, in the
    frame being written) say where, so that the caller can name the line of the file it came from."""

    def __init__(self, column: str, row: int) -> None:
        self.column, self.row = column, row
        super().__init__(f"column {column!r}, row {row}: text contains a NUL character (U+0000)")


def _refuse_nul_characters(table: pa.Table, first_row: int) -> None:
    """PostgreSQL text cannot hold U+0000: say where it is instead of failing somewhere inside COPY."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        has_nul = pa.compute.match_substring(column, "\x00")
        if pa.compute.any(has_nul).as_py():
            row = pa.compute.index(has_nul, True).as_py()
            raise NulCharacterError(name, first_row + row)
