"""Read a retailer file as text: every cell as the file has it, every row's line, and the rows that do not fit.

:func:`read_text_table` is the one way ingestion, ``sellout sources check`` and ``suggest`` read a file:

- the bytes are decompressed (gzip, bz2, xz, zip: by their magic bytes, whatever the name says) and decoded with
  the configured encoding into UTF-8; a wrong encoding is a :class:`StructuralError` naming the line and byte;
- a CSV is split by Arrow's C++ reader into string columns (nothing is converted, so ``raw_values`` can keep the
  file's own text and the row checks see what the retailer wrote); a row whose field count differs from the
  header's is set aside as a :class:`BadRow` with its line and text, not padded with NULLs;
- an XLSX sheet is read by pandas/openpyxl as text cells.

Line numbers are physical lines of the decoded file (1 = the first line), computed only when a row is rejected:
quoted newlines and blank lines are counted the way the reader counts them.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from sellout.config.sources import FileSpec

UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# A text file has few control bytes; a binary one (an image, a spreadsheet saved under .csv) has many.
CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
BINARY_SHARE = 0.05
BINARY_MIN_CONTROL_BYTES = 16
_SNIFF_BYTES = 8192


class StructuralError(ValueError):
    """The whole file is unusable (unreadable, wrong encoding, missing columns, no rows)."""


@dataclass(frozen=True)
class BadRow:
    """A row the reader could not fit to the header: its line, field count and text as in the file."""

    line: int
    fields: int
    text: str


@dataclass
class TextTable:
    """A file's cells as text. ``table`` has one string column per header field, named by position
    (``c0``, ``c1``, ...); ``columns`` are the header's names as the file has them (trimmed, no BOM)."""

    columns: list[str]
    table: pa.Table
    bad_rows: list[BadRow] = field(default_factory=list)
    header_line: int = 1
    delimiter: str = ","
    control_characters: bool | None = (
        None  # False: the file has none (the row checks skip looking); None: unknown
    )
    _line_numbers: Callable[[], np.ndarray] | None = None
    _lines: np.ndarray | None = None

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    @property
    def rows_in_file(self) -> int:
        """Data rows in the file: the rows that fit the header and those that do not."""
        return self.table.num_rows + len(self.bad_rows)

    def column(self, name: str) -> pa.Array:
        """The text of the file's column ``name`` (the first one of that name)."""
        return self.table.column(self.columns.index(name)).combine_chunks()

    def lines(self) -> np.ndarray:
        """The physical line number of every row of ``table`` (computed once, on first use)."""
        if self._lines is None:
            if self._line_numbers is not None:
                self._lines = self._line_numbers()
            else:
                self._lines = np.arange(self.num_rows, dtype=np.int64) + self.header_line + 1
        return self._lines

    def row_texts(self, positions: np.ndarray) -> list[dict[str, str]]:
        """The rows at ``positions`` as ``{column as in the file: text as in the file}``."""
        names = _unique_names(self.columns)
        rows = self.table.take(pa.array(positions, type=pa.int64())).to_pylist()
        return [{name: row[f"c{i}"] for i, name in enumerate(names)} for row in rows]

    def bad_row_texts(self) -> list[dict[str, str]]:
        """Each :class:`BadRow` split into fields and named by the header where it has them."""
        names = _unique_names(self.columns)
        texts = []
        for bad in self.bad_rows:
            try:
                fields = next(csv.reader([bad.text], delimiter=self.delimiter))
            except (csv.Error, StopIteration):
                fields = [bad.text]
            texts.append(
                {
                    (names[i] if i < len(names) else f"(extra field {i + 1})"): value
                    for i, value in enumerate(fields)
                }
            )
        return texts


def _unique_names(columns: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for name in columns:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return names


def read_text_table(path: Path, spec: FileSpec, max_bytes: int | None = None) -> TextTable:
    """Read ``path`` as text cells per ``spec``; raise StructuralError with the reason when it cannot be read.

    ``max_bytes`` reads only the start of the file (what ``sellout sources suggest`` samples); the last, maybe
    cut, line is dropped.
    """
    if spec.format == "xlsx":
        return _read_xlsx(path, spec)
    data = read_bytes(path, max_bytes)
    text = to_utf8(data, spec.csv.encoding)
    if max_bytes is not None and len(data) >= max_bytes:
        text = text[: text.rfind(b"\n") + 1] or text
    return parse_csv_text(text, spec.csv.delimiter, spec.csv.header_row)


def read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's content, decompressed when it is gzip, bz2, xz or a one-member zip (by its magic bytes)."""
    with path.open("rb") as handle:
        head = handle.read(6)
        handle.seek(0)
        opener = _decompressor(head)
        try:
            if opener is None:
                return handle.read() if max_bytes is None else handle.read(max_bytes)
            stream = opener(handle)
            return stream.read() if max_bytes is None else stream.read(max_bytes)
        except (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
            if isinstance(exc, FileNotFoundError | PermissionError):
                raise
            raise StructuralError(f"compressed file is damaged or truncated ({exc})") from None


def _decompressor(head: bytes):
    if head.startswith(b"\x1f\x8b"):
        return lambda handle: gzip.GzipFile(fileobj=handle)
    if head.startswith(b"BZh"):
        return bz2.BZ2File
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile
    if head.startswith(b"PK\x03\x04"):
        return _zip_member
    return None


def _zip_member(handle) -> io.BufferedIOBase:
    archive = zipfile.ZipFile(handle)
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) != 1:
        names = [info.filename for info in members]
        raise StructuralError(f"a zip archive must hold one file, this one holds {len(members)}: {names[:5]}")
    return archive.open(members[0])


def to_utf8(data: bytes, encoding: str) -> bytes:
    """``data`` as UTF-8 without a byte order mark; StructuralError (line, byte, a likely fix) if it is not
    text in ``encoding``."""
    if not data:
        raise StructuralError("file is empty")
    codec = codecs.lookup(encoding).name
    if data.startswith(UTF16_BOMS) and not codec.startswith(("utf-16", "utf-32")):
        raise StructuralError(
            "the file is UTF-16 (it starts with a UTF-16 byte order mark): set csv.encoding: utf-16"
        )
    if codec in ("utf-8", "utf-8-sig", "ascii"):
        data = data.removeprefix(UTF8_BOM)
        _refuse_binary(data)
        return data
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise StructuralError(_decode_problem(data, exc, encoding)) from None
    encoded = text.removeprefix("\ufeff").encode("utf-8")
    _refuse_binary(encoded)
    return encoded


def _refuse_binary(data: bytes) -> None:
    head = data[:_SNIFF_BYTES]
    control = len(head) - len(head.translate(None, CONTROL_BYTES))
    if control >= BINARY_MIN_CONTROL_BYTES and control > BINARY_SHARE * len(head):
        raise StructuralError(
            "not a text file: its first bytes are mostly control characters (a binary file or a spreadsheet "
            "saved under a .csv name? for an Excel workbook set format: xlsx)"
        )


def _decode_problem(data: bytes, exc: UnicodeDecodeError, encoding: str) -> str:
    line = data.count(b"\n", 0, exc.start) + 1
    column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    byte = data[exc.start : exc.start + 1].hex()
    hint = ""
    if codecs.lookup(encoding).name == "utf-8":
        hint = "; the file looks like latin-1 or cp1252: set csv.encoding"
    return f"line {line}, byte {column}: not valid {encoding} text (byte 0x{byte}: {exc.reason}){hint}"


def parse_csv_text(data: bytes, delimiter: str, header_row: int = 0) -> TextTable:
    """Split UTF-8 CSV text into string columns; rows with another field count than the header are BadRows."""
    header = _header_fields(data, delimiter, header_row)
    if header is None:
        raise StructuralError(
            "file is empty" if not data.strip() else f"no header in line {header_row + 1} (csv.header_row)"
        )
    bad: list[tuple[int, int, str]] = []

    def set_aside(row) -> str:
        bad.append((row.number, row.actual_columns, row.text))
        return "skip"

    names = [f"c{i}" for i in range(len(header))]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(data),
            read_options=pa_csv.ReadOptions(
                use_threads=False,  # the row numbers of bad rows are known only without threads
                block_size=1 << 24,
                skip_rows=header_row + 1,
                column_names=names,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=set_aside
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
                check_utf8=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "utf8" in str(exc).lower():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as decode_error:
                raise StructuralError(_decode_problem(data, decode_error, "utf-8")) from None
        raise StructuralError(f"file cannot be parsed: {str(exc).splitlines()[0]}") from None
    if table.num_rows == 0 and not bad:
        raise StructuralError("file has a header but no data rows")
    first_record = header_row + 2  # Arrow numbers records from 1, the skipped ones and the header included
    bad_records = np.array([number for number, _, _ in bad], dtype=np.int64)
    rows_total = table.num_rows + len(bad)

    def line_numbers() -> np.ndarray:
        lines_of = _record_lines(data, first_record + rows_total - 1, header_row + 1)
        records = np.arange(first_record, first_record + rows_total, dtype=np.int64)
        if len(bad_records):
            records = records[~np.isin(records, bad_records)]
        return lines_of[records - 1]

    text_table = TextTable(
        columns=header,
        table=table,
        header_line=header_row + 1,
        delimiter=delimiter,
        control_characters=len(data.translate(None, CONTROL_BYTES)) != len(data),
        _line_numbers=line_numbers if _lines_differ_from_records(data, rows_total + header_row + 1) else None,
    )
    if bad:
        lines_of = _record_lines(data, int(bad_records.max()), header_row + 1)
        text_table.bad_rows = [
            BadRow(int(lines_of[number - 1]), fields, text) for number, fields, text in bad
        ]
    return text_table


def _header_fields(data: bytes, delimiter: str, header_row: int) -> list[str] | None:
    """The fields of the header, line ``header_row + 1`` (``header_row`` lines before it, blank ones included,
    as the reader skips them), trimmed."""
    text = data[: 1 << 20].decode("utf-8", errors="replace")
    for index, row in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)):
        if index == header_row:
            return [cell.strip().lstrip("\ufeff") for cell in row] if row else None
    return None


def _lines_differ_from_records(data: bytes, records: int) -> bool:
    """Whether record k is not simply line k: the file has blank lines or values with line breaks in them."""
    breaks = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    lines = breaks + (0 if data.endswith((b"\n", b"\r")) else 1)
    return lines != records


def _record_lines(data: bytes, records: int, skipped_lines: int = 0) -> np.ndarray:
    """The 1-based physical line each CSV record starts on (the first ``records`` at least), as the reader
    numbers them: the first ``skipped_lines`` lines (the header and what is above it) one record each, then
    every non-empty line outside quotes.

    A line break ends a record unless it is inside quotes (an odd number of quote characters before it). Falls
    back to "record k is line k" when the count does not come out.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    newline = buffer == 10
    carriage = np.flatnonzero(buffer == 13)
    if len(carriage):  # a lone \r ends a line too; \r\n is one line break
        lone = carriage[
            (carriage + 1 >= len(buffer)) | (buffer[np.minimum(carriage + 1, len(buffer) - 1)] != 10)
        ]
        newline[lone] = True
    breaks = np.flatnonzero(newline)
    starts = np.concatenate(([0], breaks + 1))
    starts = starts[starts < len(buffer)]
    ends = np.concatenate((breaks, [len(buffer)]))[: len(starts)]
    line_numbers = np.arange(1, len(starts) + 1, dtype=np.int64)
    content = ends - starts
    # a \r before the \n is part of the line break, not content
    has_cr = (content > 0) & (buffer[np.maximum(ends - 1, 0)] == 13)
    keep = (content - has_cr) > 0
    keep[:skipped_lines] = True
    quotes = np.flatnonzero(buffer == 34)
    if len(quotes):
        keep &= np.searchsorted(quotes, starts) % 2 == 0
    record_lines = line_numbers[keep]
    if len(record_lines) < records:
        return np.arange(1, records + 1, dtype=np.int64)
    return record_lines


def _read_xlsx(path: Path, spec: FileSpec) -> TextTable:
    try:
        frame = pd.read_excel(path, sheet_name=spec.sheet, dtype=str, header=None)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StructuralError(f"file cannot be read as a workbook: {message}") from None
    if frame.empty or len(frame) <= spec.csv.header_row:
        raise StructuralError(
            "file is empty" if frame.empty else f"no header in row {spec.csv.header_row + 1}"
        )
    header = [
        "" if pd.isna(value) else str(value).strip() for value in frame.iloc[spec.csv.header_row].tolist()
    ]
    while header and header[-1] == "":
        header.pop()
    body = frame.iloc[spec.csv.header_row + 1 :, : len(header)]
    filled = body.notna().any(axis=1).to_numpy()
    body = body[filled]
    if body.empty:
        raise StructuralError("file has a header but no data rows")
    rows = np.flatnonzero(filled) + spec.csv.header_row + 2  # spreadsheet row numbers
    names = [f"c{i}" for i in range(len(header))]
    table = pa.table(
        {
            # an empty cell is NaN in a str column: from_pandas reads it as null
            name: pc.fill_null(
                pa.array(body.iloc[:, i].to_numpy(dtype=object), type=pa.string(), from_pandas=True), ""
            )
            for i, name in enumerate(names)
        }
    )
    return TextTable(
        columns=header,
        table=table,
        header_line=spec.csv.header_row + 1,
        _line_numbers=lambda: rows.astype(np.int64),
    )
