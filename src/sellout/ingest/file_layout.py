"""What a sample of a retailer file says about its layout: a workbook's sheet, or a text file's encoding,
delimiter, decimal and thousands marks; and the header row, below any title and group rows."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from sellout.config.sources import FileSpec
from sellout.ingest.reading import (
    UTF8_BOM,
    UTF16_BOMS,
    StructuralError,
    TextTable,
    parse_csv_text,
    read_bytes,
    read_text_table,
    to_utf8,
)

SAMPLE_BYTES = 2_000_000
SAMPLE_SHEET_ROWS = 5_000
DELIMITERS = (",", ";", "\t", "|")
_DE_NUMBER = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$|^[+-]?\d+,\d+$")
_US_NUMBER = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$|^[+-]?\d+\.\d+$")
# 1,234 or 1.234: a thousand, or one point two three four (0,125 is no thousand)
_EITHER_NUMBER = re.compile(r"[+-]?[1-9]\d{0,2}([.,])\d{3}")


def read_sample(path: Path, unsure: dict[str, str]) -> tuple[TextTable, dict, str, str | None]:
    """(the sample as text, its layout as ``sources.yml`` spells it: ``format``, ``sheet`` and ``csv``, the
    decimal mark, the thousands mark); what the sample cannot settle goes into ``unsure``."""
    if _is_workbook(path):
        text, sheet, header_row = _sample_workbook(path)
        return text, {"format": "xlsx", "sheet": sheet, "csv": {"header_row": header_row}}, ".", None
    raw = read_bytes(path, SAMPLE_BYTES)
    encoding, why = detect_encoding(raw)
    if why:
        unsure["sellout.csv.encoding"] = why
    utf8 = to_utf8(raw, encoding)
    if len(raw) >= SAMPLE_BYTES:
        utf8 = utf8[: utf8.rfind(b"\n") + 1] or utf8
    delimiter, header_row = detect_layout(utf8.decode("utf-8", errors="replace"))
    text = parse_csv_text(utf8, delimiter, header_row)
    decimal, thousands, why = detect_number_marks(text, delimiter)
    if why:
        unsure["sellout.csv.decimal"] = why
    options = {"delimiter": delimiter, "decimal": decimal, "encoding": encoding, "header_row": header_row}
    if thousands:
        options["thousands"] = thousands
    return text, {"format": "csv", "csv": options}, decimal, thousands


def _is_workbook(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4)
    return head == b"PK\x03\x04" and path.suffix.lower() in (".xlsx", ".xlsm")


def _sample_workbook(path: Path) -> tuple[TextTable, str | int, int]:
    sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=str, nrows=SAMPLE_SHEET_ROWS)
    if not sheets:
        raise StructuralError("the workbook has no sheets")
    sheet = max(sheets, key=lambda key: sheets[key].notna().to_numpy().sum())
    frame = sheets[sheet]
    rows = [["" if pd.isna(v) else str(v) for v in row] for row in frame.itertuples(index=False)]
    header_row = _header_row(rows)
    spec = FileSpec(pattern="*", format="xlsx", sheet=sheet, csv={"header_row": header_row}, columns={})
    return read_text_table(path, spec), sheet, header_row


def detect_encoding(raw: bytes) -> tuple[str, str | None]:
    """(encoding, why it is unsure or None) from a byte order mark, else whether the sample is valid UTF-8, else
    a single-byte Western encoding (cp1252 when it uses bytes 0x80-0x9F, latin-1 otherwise)."""
    if raw.startswith(UTF16_BOMS):
        return "utf-16", None
    if raw.startswith(UTF8_BOM):
        return "utf-8", None
    try:
        raw.decode("utf-8")
        return "utf-8", None
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3:  # a character cut by the end of the sample
            return "utf-8", None
    if any(0x80 <= b <= 0x9F for b in raw):
        return "cp1252", "not UTF-8; bytes 0x80-0x9F say Windows-1252 (cp1252), not latin-1"
    return "latin-1", "not UTF-8: latin-1 or cp1252 (both read this sample the same)"


def detect_layout(text: str) -> tuple[str, int]:
    """(delimiter, header_row): the delimiter that splits the first lines into the most consistent number of
    fields, and the line of column names above the first data line (titles and group rows above are skipped)."""
    head = text.splitlines()[:200]
    best, best_score, best_rows = ",", -1.0, []
    for delimiter in DELIMITERS:
        rows = list(csv.reader(io.StringIO("\n".join(head)), delimiter=delimiter))
        counts = Counter(len(row) for row in rows if row)
        if not counts:
            continue
        fields, frequency = counts.most_common(1)[0]
        if fields < 2:
            continue
        score = frequency / max(1, sum(counts.values())) + min(fields, 50) / 1000
        if score > best_score:
            best, best_score, best_rows = delimiter, score, rows
    return best, _header_row(best_rows)


def _header_row(rows: list[list[str]]) -> int:
    """The index of the header: the last row above the first data row that has the data's field count and
    looks like names (no numbers, no dates, mostly filled)."""
    counts = Counter(len([c for c in row if c.strip()]) for row in rows if any(c.strip() for c in row))
    if not counts:
        return 0
    width = counts.most_common(1)[0][0]
    first_data = next(
        (
            i
            for i, row in enumerate(rows)
            if len([c for c in row if c.strip()]) >= max(1, width - 1)
            and any(_looks_like_data(c) for c in row)
        ),
        None,
    )
    if first_data is None:
        return 0
    for i in range(first_data - 1, -1, -1):
        cells = [c for c in rows[i] if c.strip()]
        if len(cells) >= max(1, width // 2) and not any(_looks_like_data(c) for c in cells):
            return i
    return 0


def _looks_like_data(cell: str) -> bool:
    cell = cell.strip()
    return bool(
        re.fullmatch(r"[+-]?[\d.,]*\d", cell) or re.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}.*", cell)
    )


def detect_number_marks(text: TextTable, delimiter: str) -> tuple[str, str | None, str | None]:
    """(decimal, thousands, why unsure) from the numbers the sample's cells hold. ``1,234`` and ``1.234`` read
    either way: the other numbers decide the decimal mark, and such a number then has the other mark as its
    thousands mark (``1,000`` in a file of ``1.99`` is a thousand)."""
    german = us = 0
    german_thousands = us_thousands = False
    ambiguous: dict[str, str] = {}  # mark -> an example
    for i in range(len(text.columns)):
        values = pc.utf8_trim_whitespace(text.table.column(i).combine_chunks())
        sample = pc.unique(values).to_pylist()[:2000]
        for value in sample:
            either = _EITHER_NUMBER.fullmatch(value)
            if either:
                ambiguous.setdefault(either.group(1), value)
            elif _DE_NUMBER.match(value):
                german += 1
                german_thousands |= "." in value
            elif _US_NUMBER.match(value):
                us += 1
                us_thousands |= (
                    "," in value and "." in value or bool(re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+", value))
                )
    if german > us:
        why = f"{us} value(s) look like 1,234.5 against {german} like 1.234,5" if us else None
        return ",", "." if german_thousands or "." in ambiguous else None, why
    why = f"{german} value(s) look like 1.234,5 against {us} like 1,234.5" if german else None
    if not us and not german and ambiguous:
        shown = " or ".join(repr(v) for v in ambiguous.values())
        why = (
            f"every number with a mark has three digits after it ({shown}): a ',' is read as a thousands mark, a "
            "'.' as the decimal mark; if not, set decimal and thousands"
        )
    return ".", "," if us_thousands or "," in ambiguous else None, why
