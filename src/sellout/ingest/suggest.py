"""``sellout sources suggest FILE``: read a sample of a retailer file and write the ``sources.yml`` entry for it.

Detected from the sample (the first ``SAMPLE_BYTES`` of the decompressed file, or the first rows of each sheet):
the format and sheet, the encoding, delimiter, decimal and thousands marks, the header row
(:mod:`sellout.ingest.file_layout`), what each column holds (:mod:`sellout.ingest.column_profiles`), what each
header means (:mod:`sellout.ingest.header_mapping`), the date format, whether rows are daily or weekly and the
weekday weeks end on (:mod:`sellout.ingest.feed_frequency`). What the sample cannot settle is marked
``# unsure: ...`` in the printed entry (:mod:`sellout.ingest.suggested_entry`), and the columns left unmapped are
listed.
"""

from __future__ import annotations

import re
from pathlib import Path

from sellout.canonical import OPEN, PRODUCT, SALES_VALUE, STORE, UNITS, WEEK
from sellout.config.sources import DEFAULT_NA_VALUES
from sellout.ingest.column_profiles import ColumnProfile, profile_column
from sellout.ingest.feed_frequency import dates_and_frequency
from sellout.ingest.file_layout import read_sample
from sellout.ingest.header_mapping import map_columns, twice_named
from sellout.ingest.header_synonyms import SYNONYMS, normalise
from sellout.ingest.suggested_entry import Suggestion


def suggest_source(path: Path, name: str | None = None, directory: str | None = None) -> Suggestion:
    """Read a sample of ``path`` and suggest its ``sources.yml`` entry (raise StructuralError if it is unreadable)."""
    path = Path(path)
    name = name or source_name(path)
    unsure: dict[str, str] = {}
    notes: list[str] = []
    sellout: dict = {"pattern": file_pattern(path.name)}
    text, layout, decimal, thousands = read_sample(path, unsure)
    sellout.update(layout)
    spreadsheet = layout.get("format") == "xlsx"
    profiles = [profile_column(text, i, decimal, thousands, spreadsheet) for i in range(len(text.columns))]
    mapping, returns_column = map_columns(profiles, unsure)
    for header in twice_named(profiles):
        notes.append(f"{header!r} names more than one column: not mapped (rename one in the files to map it)")
    sellout.update(dates_and_frequency(profiles, mapping, unsure, notes))
    if sellout["frequency"] == "weekly" and OPEN in mapping:
        mapping.pop(OPEN)  # whether a store was open is a daily feed's field
    sellout.update(_flag_and_missing_values(profiles, mapping, returns_column, unsure))
    if returns_column:
        sellout["returns_column"] = returns_column
    _mark_rejected_in_sample(profiles, mapping, unsure)
    ordered = {key: mapping[key] for key in SYNONYMS if key in mapping}
    if sellout["frequency"] == "daily" and WEEK in ordered:
        ordered.pop(WEEK)
    sellout["columns"] = ordered
    constants = _constants(ordered, notes)
    if constants:
        sellout["constants"] = constants
    if UNITS not in ordered and SALES_VALUE in ordered:
        notes.append(
            f"no units column: a value-only feed (its measure is the sales value, {ordered[SALES_VALUE]!r})"
        )
    if UNITS not in ordered and SALES_VALUE not in ordered:
        notes.append("no units and no sales value found: map one of them under columns")
    used = set(ordered.values()) | ({returns_column} if returns_column else set())
    unmapped = [p.name for p in profiles if p.name not in used and p.name]
    entry = {"directory": directory or str(path.resolve().parent), "sellout": sellout}
    return Suggestion(name, path, entry, unsure, notes, unmapped, sample_rows=text.rows_in_file)


def _flag_and_missing_values(
    profiles: list[ColumnProfile], mapping: dict[str, str], returns_column: str | None, unsure: dict[str, str]
) -> dict:
    """``true_values`` (the "yes" spellings of the mapped flags and the returns column) and, when mapped numeric
    columns hold missing-value marks, ``na_values``."""
    flags = [p for p in profiles if p.name in mapping.values() and p.flag_true]
    if returns_column:
        flags.append(next(p for p in profiles if p.name == returns_column))
    values: dict = {"true_values": sorted({p.flag_true for p in flags if p.flag_true is not None}) or ["1"]}
    na_tokens = sorted({t for p in profiles if p.name in mapping.values() for t in p.na_tokens})
    if na_tokens:
        values["na_values"] = [*DEFAULT_NA_VALUES, *[t for t in na_tokens if t not in DEFAULT_NA_VALUES]]
        unsure["sellout.na_values"] = f"{na_tokens} stand where numbers are expected: read as missing values"
    return values


def _mark_rejected_in_sample(
    profiles: list[ColumnProfile], mapping: dict[str, str], unsure: dict[str, str]
) -> None:
    """A mapped column whose sample holds values the ingestion would reject is marked unsure."""
    for profile in profiles:
        key = next((k for k, column in mapping.items() if column == profile.name), None)
        if key and profile.bad_values:
            shown = ", ".join(repr(v) for v in profile.bad_values[:3])
            unsure.setdefault(
                f"sellout.columns.{key}",
                f"{len(profile.bad_values)} value(s) of the sample are not numbers ({shown}): their rows are rejected",
            )
        if key and profile.non_dates:
            shown = ", ".join(repr(v) for v in profile.non_dates[:3])
            unsure.setdefault(
                f"sellout.columns.{key}",
                f"{len(profile.non_dates)} value(s) of the sample are not dates in {profile.date_format} ({shown}): "
                "their rows are rejected",
            )


def _constants(columns: dict[str, str], notes: list[str]) -> dict[str, str]:
    """The store and product code of every row when no column holds them."""
    constants = {}
    if PRODUCT not in columns:
        constants[PRODUCT] = "ALL"
        notes.append(
            "no product column: every row is product 'ALL' (constants.product_code), one series per store"
        )
    if STORE not in columns:
        constants[STORE] = "ALL"
        notes.append("no store column: every row is store 'ALL' (constants.store_code)")
    return constants


def source_name(path: Path) -> str:
    """A name for the source from its file's: without dates, week numbers and compression suffixes."""
    stem = path.name.split(".")[0]
    stem = re.sub(r"[\s_-]*((kw|wk|week|woche)[\s_-]*)?\d[\d\s_.-]*", "_", stem, flags=re.IGNORECASE)
    return normalise(stem) or "retailer"


def file_pattern(file_name: str) -> str:
    """A glob for the file and its later deliveries: runs of digits (dates, week numbers) become ``*``, and any
    compression suffix is allowed."""
    base, dot, suffix = file_name.partition(".")
    extension = suffix.split(".")[0] if suffix else ""
    glob = re.sub(r"\d+([-_.]\d+)*", "*", base)
    if "*" not in glob:
        glob += "*"
    return f"{glob}.{extension}*" if dot and extension else glob
