"""Check a retailer file's rows and map them to canonical rows, keeping every rejected row with its line and reason.

The checks are vectorised over Arrow string columns (the file's own text, :mod:`sellout.ingest.reading`); the
first rule a row fails gives its reason, and every row of the file ends up either in the rows that load or in the
rejected rows. Reasons name the line and the column as the retailer wrote it
(``line 7, column 'STORE_NUM': empty store code``); ``raw_values`` keeps the row's text by column name, as JSON.

Each rule runs inside :func:`rule`: an unexpected exception in one becomes :class:`RuleFailed`, which quarantines
the file (naming the rule) instead of stopping the run.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sellout.canonical import (
    DAY,
    DAYS_CLOSED,
    DAYS_REPORTED,
    IS_COMPLETE_WEEK,
    IS_RETURN,
    MEASURE,
    NUMERIC_SELLOUT_COLUMNS,
    OPEN,
    PRICE_COLUMNS,
    PRODUCT,
    SALES_VALUE,
    SELLOUT_FLAGS,
    SELLOUT_TEXT_COLUMNS,
    STORE,
    UNITS,
    WEEK,
)
from sellout.config.sources import WEEKDAYS, FileSpec, MasterFileSpec, SelloutFileSpec
from sellout.ingest.landing import LandingFile
from sellout.ingest.reading import StructuralError, TextTable

CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_EPOCH_THURSDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
_NS_PER_DAY = 86_400 * 10**9
_SHOWN_CHARS = 40
STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default text dtype
# what a conflict between two rows with one key is about, by canonical column (the file's name is shown)
_COMPARED = (*NUMERIC_SELLOUT_COLUMNS, *SELLOUT_FLAGS, *SELLOUT_TEXT_COLUMNS, OPEN)


@dataclass(frozen=True)
class RowRules:
    """What a sell-out row must satisfy beyond its own columns: the delivery window, code mappings and the
    master data its codes must appear in (None = not checked)."""

    earliest_week: pd.Timestamp | None = None
    latest_week: pd.Timestamp | None = None
    store_map: dict[str, str] | None = None
    product_map: dict[str, str] | None = None
    keep_unmapped_stores: bool = False
    keep_unmapped_products: bool = False
    known_stores: frozenset[str] | None = None
    known_products: frozenset[str] | None = None


@dataclass
class ParsedFile:
    """A file read and checked: what loads, what is rejected, or why the whole file is quarantined."""

    landing: LandingFile
    run_id: str
    rows_in_file: int = 0
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    quarantine_reason: str | None = None
    replace_existing: bool = False
    duplicate_of: str | None = None  # the file name whose identical content was loaded
    # rows of the file that went into ``rows`` (a daily file's days become fewer weekly rows); None = len(rows)
    rows_accepted: int | None = None

    @property
    def status(self) -> str:
        if self.duplicate_of:
            return "duplicate"
        return "quarantined" if self.quarantine_reason else "loaded"

    @property
    def rows_loaded(self) -> int:
        """File rows that load (``rows_loaded + rows_rejected = rows_in_file`` for a loaded file)."""
        if self.status != "loaded":
            return 0
        return len(self.rows) if self.rows_accepted is None else self.rows_accepted


class RuleFailed(Exception):
    """A row rule raised an unexpected exception: the file is quarantined with the rule's name."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.rule_name = name
        self.error = error
        message = str(error).splitlines()[0] if str(error) else ""
        super().__init__(
            f"rule {name!r} failed on this file ({type(error).__name__}{': ' + message if message else ''}); "
            "the file is quarantined so that the other files load: this is a bug, please report it"
        )


@contextmanager
def rule(name: str) -> Iterator[None]:
    """Run one rule; an unexpected exception in it becomes :class:`RuleFailed`."""
    try:
        yield
    except (RuleFailed, StructuralError):
        raise
    except Exception as exc:  # noqa: BLE001 - any bug in a rule quarantines one file, not the run
        raise RuleFailed(name, exc) from exc


class Rejections:
    """Which rows are rejected and why: the first rule that rejects a row names its reason.

    ``key`` is a reason without the row's values (to count and summarise); ``detail`` says it for the row.
    """

    def __init__(self, n: int) -> None:
        self.rule = np.full(n, -1, dtype=np.int32)
        self.detail = np.empty(n, dtype=object)
        self.keys: list[str] = []

    @property
    def ok(self) -> np.ndarray:
        return self.rule < 0

    def reject(
        self, mask, key: str, detail: str | Callable[[np.ndarray], list[str] | np.ndarray] | None = None
    ) -> None:
        new = np.asarray(mask, dtype=bool) & (self.rule < 0)
        if not new.any():
            return
        positions = np.flatnonzero(new)
        self.keys.append(key)
        self.rule[positions] = len(self.keys) - 1
        if callable(detail):
            values = detail(positions)
            filled = np.empty(len(positions), dtype=object)
            filled[:] = list(values)
            self.detail[positions] = filled
        else:
            self.detail[positions] = detail or key

    def counts(self) -> dict[str, int]:
        found = self.rule[self.rule >= 0]
        return {self.keys[i]: int(n) for i, n in enumerate(np.bincount(found, minlength=len(self.keys))) if n}


@dataclass
class ParseResult:
    """The rows that load (canonical columns), and the rejected rows with their reasons."""

    rows: pd.DataFrame
    text: TextTable
    rejections: Rejections
    accepted: int  # file rows that went into ``rows``

    def __iter__(self):  # good, rejected = parse_sellout(...)
        return iter((self.rows, self.rejected))

    @property
    def rejected_count(self) -> int:
        return int((~self.rejections.ok).sum()) + len(self.text.bad_rows)

    def reason_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for bad in self.text.bad_rows:
            key = f"{bad.fields} fields, the header has {len(self.text.columns)}"
            counts[key] = counts.get(key, 0) + 1
        for key, n in self.rejections.counts().items():
            counts[key] = counts.get(key, 0) + n
        return dict(sorted(counts.items(), key=lambda item: -item[1]))

    def first_rejected(self, n: int = 3) -> list[str]:
        """The first ``n`` rejected rows' reasons, by line."""
        return self.rejected.sort_values("line_no")["reason"].head(n).tolist()

    @cached_property
    def rejected(self) -> pd.DataFrame:
        """``line_no``, ``reason`` (``line N, column 'X': ...``) and ``raw_values`` (the row's text as JSON)."""
        positions = np.flatnonzero(~self.rejections.ok)
        lines = self.text.lines()[positions] if len(positions) else np.array([], dtype=np.int64)
        reasons = [
            _with_line(int(line), body)
            for line, body in zip(lines, self.rejections.detail[positions], strict=False)
        ]
        raws = [json.dumps(row, ensure_ascii=False) for row in self.text.row_texts(positions)]
        header = len(self.text.columns)
        for bad, raw in zip(self.text.bad_rows, self.text.bad_row_texts(), strict=True):
            lines = np.append(lines, bad.line)
            reasons.append(f"line {bad.line}: {bad.fields} fields, the header has {header}")
            raws.append(json.dumps(raw, ensure_ascii=False))
        frame = pd.DataFrame(
            {
                "line_no": np.asarray(lines, dtype=np.int64),
                "reason": pd.Series(reasons, dtype=object),
                "raw_values": pd.Series(raws, dtype=object),
            }
        )
        return frame.sort_values("line_no", kind="stable", ignore_index=True)


def _with_line(line: int, body: str) -> str:
    return f"line {line}, {body}" if body.startswith("column ") else f"line {line}: {body}"


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "...")


class Columns:
    """The mapped columns of a file: its text by canonical field, trimmed, and which cells are missing values."""

    def __init__(self, text: TextTable, spec: FileSpec, extra: tuple[str, ...] = ()) -> None:
        self.text = text
        self.spec = spec
        self.names = dict(spec.columns)
        wanted = [*self.names.values(), *extra]
        missing = [column for column in dict.fromkeys(wanted) if column not in text.columns]
        if missing:
            raise StructuralError(_missing_columns(missing, text.columns))
        twice = sorted({c for c in wanted if text.columns.count(c) > 1})
        if twice:
            raise StructuralError(
                f"column(s) {twice} appear more than once in the header: rename one of them"
            )
        self._na = pa.array(spec.na_values, type=pa.string())
        self._trimmed: dict[str, pa.Array] = {}

    def raw(self, field: str) -> pa.Array:
        return self.text.column(self.names[field])

    def trimmed(self, field: str) -> pa.Array:
        if field not in self._trimmed:
            self._trimmed[field] = pc.utf8_trim_whitespace(self.raw(field))
        return self._trimmed[field]

    def missing(self, field: str) -> np.ndarray:
        return _bool(pc.is_in(self.trimmed(field), value_set=self._na))

    def label(self, field: str) -> str:
        return f"column {self.names[field]!r}"


def _missing_columns(missing: list[str], header: list[str]) -> str:
    hints = []
    for column in missing:
        close = difflib.get_close_matches(column, header, n=1, cutoff=0.6)
        lowered = [c for c in header if c.strip().lower() == column.strip().lower()]
        if lowered or close:
            hints.append(f"{column!r} -> {(lowered or close)[0]!r}?")
    return (
        f"required column(s) {missing} not in header {header}"
        + (f" ({', '.join(hints)})" if hints else "")
        + ": check the delimiter, header_row and the columns mapping"
    )


def _bool(array) -> np.ndarray:
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def parse_sellout(text: TextTable, spec: SelloutFileSpec, rules: RowRules = RowRules()) -> ParseResult:
    """Check a sell-out file's rows and map the good ones to canonical rows (weeks; a daily file's days are
    summed into the retailer's weeks). Every row of the file is loaded or rejected."""
    cols = Columns(text, spec, (spec.returns_column,) if spec.returns_column else ())
    n = text.num_rows
    rejections = Rejections(n)
    out: dict[str, object] = {}
    daily = spec.frequency == "daily"
    date_field = spec.date_field

    with rule("control characters"):
        check_control_characters(cols, rejections)
    with rule("dates"):
        dates = parse_date_column(cols, date_field, spec, rejections)
    with rule("week ending weekday"):
        weeks = check_weekday(cols, dates, spec, rejections)
    with rule("delivery window"):
        check_delivery_window(cols, weeks, date_field, rules, rejections)
    out[WEEK] = weeks
    if daily:
        out[DAY] = dates
    with rule("codes"):
        for key, mapping, keep, known, noun in (
            (STORE, rules.store_map, rules.keep_unmapped_stores, rules.known_stores, "store"),
            (PRODUCT, rules.product_map, rules.keep_unmapped_products, rules.known_products, "product"),
        ):
            out[key] = check_codes(cols, key, noun, mapping, keep, known, rejections)
    with rule("numbers"):
        for column in NUMERIC_SELLOUT_COLUMNS:
            out[column] = parse_number_column(cols, column, rejections) if column in spec.columns else None
    returns = (
        _flags(cols, spec.returns_column, spec.true_values) if spec.returns_column else np.zeros(n, bool)
    )
    with rule("measures"):
        check_measures(cols, spec, out, returns, rejections)
    with rule("flags"):
        for flag in SELLOUT_FLAGS:
            out[flag] = _flags(cols, spec.columns.get(flag), spec.true_values, by_field=flag)
        if daily:
            out[OPEN] = (
                _flags(cols, spec.columns[OPEN], spec.true_values, by_field=OPEN)
                if OPEN in spec.columns
                else np.ones(n, bool)
            )
    for name in SELLOUT_TEXT_COLUMNS:
        if name in spec.columns:
            out[name] = _text(cols, name)
    if spec.units_per_case != 1 and out[UNITS] is not None:
        out[UNITS] = out[UNITS] * spec.units_per_case
    out[IS_RETURN] = returns
    with rule("duplicate keys"):
        check_duplicates(cols, out, date_field, returns, rejections)

    good = rejections.ok
    rows = _canonical_frame(text, out, good, spec)
    accepted = int(good.sum())
    with rule("weekly totals"):
        if daily or (returns[good].any()):
            rows = aggregate_weeks(rows, daily, spec.days_per_week)
    with rule("derived price"):
        rows = derive_price(rows, spec)
    rows[MEASURE] = spec.measure
    return ParseResult(rows=rows, text=text, rejections=rejections, accepted=accepted)


def check_control_characters(cols: Columns, rejections: Rejections) -> None:
    """A mapped cell with a control character (NUL, ...) rejects its row: such text is garbled, and PostgreSQL
    cannot even store a NUL."""
    if cols.text.control_characters is False:
        return  # the reader saw none in the whole file
    for field_name in cols.names:
        found = _bool(pc.match_substring_regex(cols.raw(field_name), CONTROL_CHARACTERS))
        if found.any():
            raw, label = cols.raw(field_name), cols.label(field_name)
            rejections.reject(found, f"{label}: contains a control character", _control_detail(raw, label))


def _control_detail(raw: pa.Array, label: str) -> Callable[[np.ndarray], list[str]]:
    return lambda positions: [
        f"{label}: contains a control character ({_first_control(raw[int(i)].as_py())})" for i in positions
    ]


def _first_control(value: str) -> str:
    for char in value:
        if ord(char) < 32 and char not in "\t\n\r" or ord(char) == 127:
            return f"U+{ord(char):04X}"
    return "?"


def parse_date_column(
    cols: Columns, date_field: str, spec: SelloutFileSpec, rejections: Rejections
) -> np.ndarray:
    """The date column as ``datetime64[ns]`` (NaT where it does not parse: those rows are rejected)."""
    trimmed = cols.trimmed(date_field)
    dates = parse_dates(trimmed, spec.date_format, spec.format == "xlsx")
    bad = np.isnat(dates)
    if bad.any():
        label = cols.label(date_field)
        rejections.reject(
            bad,
            f"{label}: not a date in the format {spec.date_format}",
            lambda positions: [
                f"{label}: {_shown(trimmed[int(i)].as_py())} is not a date in the format {spec.date_format}"
                for i in positions
            ],
        )
    return dates


def parse_dates(text: pa.Array, date_format: str | None, from_spreadsheet: bool = False) -> np.ndarray:
    """Dates of a text column (each distinct text parsed once) as ``datetime64[ns]``, NaT where one fails."""
    encoded = pc.dictionary_encode(text)
    uniques = pd.Series(encoded.dictionary.to_pylist(), dtype=object)
    if date_format:
        parsed = pd.to_datetime(uniques, format=date_format, errors="coerce")
    else:
        parsed = pd.to_datetime(uniques, format="mixed", errors="coerce")
    if from_spreadsheet:
        # a spreadsheet's date cells arrive as ISO timestamps; the configured format is for text cells
        parsed = parsed.fillna(pd.to_datetime(uniques, format="ISO8601", errors="coerce"))
    values = parsed.to_numpy(dtype="datetime64[ns]")
    values = np.where(values == values.astype("datetime64[D]"), values, np.datetime64("NaT"))  # no times
    return values[encoded.indices.to_numpy(zero_copy_only=False)]


def weekday_of(dates: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 (NaT: -1)."""
    days = dates.astype("datetime64[D]").astype(np.int64)
    weekdays = (days + _EPOCH_THURSDAY) % 7
    return np.where(np.isnat(dates), -1, weekdays)


def check_weekday(
    cols: Columns, dates: np.ndarray, spec: SelloutFileSpec, rejections: Rejections
) -> np.ndarray:
    """The week each row belongs to: a weekly row's date must be the configured weekday; a daily row's day falls
    in the week that ends on the next such weekday (or on that day)."""
    if spec.week_ending_weekday is None:
        return dates
    end = WEEKDAYS.index(spec.week_ending_weekday)
    weekdays = weekday_of(dates)
    if spec.frequency == "daily":
        ahead = (end - weekdays) % 7
        return dates + ahead.astype("timedelta64[D]").astype("timedelta64[ns]")
    wrong = (weekdays >= 0) & (weekdays != end)
    if wrong.any():
        label = cols.label(WEEK)
        rejections.reject(
            wrong,
            f"{label}: not a {spec.week_ending_weekday} (week_ending_weekday)",
            lambda positions: [
                f"{label}: {np.datetime_as_string(dates[i], unit='D')} is a {WEEKDAYS[weekdays[i]].title()}, but "
                f"this source's weeks end on a {spec.week_ending_weekday.title()} (week_ending_weekday)"
                for i in positions
            ],
        )
    return dates


def check_delivery_window(
    cols: Columns, weeks: np.ndarray, date_field: str, rules: RowRules, rejections: Rejections
) -> None:
    label = cols.label(date_field)
    if rules.latest_week is not None:
        latest = np.datetime64(rules.latest_week.to_datetime64(), "ns")
        rejections.reject(
            weeks > latest,
            f"{label}: week after the delivery window (later than {rules.latest_week.date()})",
            lambda positions: [
                f"{label}: week {np.datetime_as_string(weeks[i], unit='D')} is after the delivery window "
                f"(later than {rules.latest_week.date()}: delivery_window.max_future_days)"
                for i in positions
            ],
        )
    if rules.earliest_week is not None:
        earliest = np.datetime64(rules.earliest_week.to_datetime64(), "ns")
        rejections.reject(
            (weeks < earliest) & ~np.isnat(weeks),
            f"{label}: week before the delivery window (earlier than {rules.earliest_week.date()})",
            lambda positions: [
                f"{label}: week {np.datetime_as_string(weeks[i], unit='D')} is before the delivery window "
                f"(earlier than {rules.earliest_week.date()}: delivery_window.max_age_weeks)"
                for i in positions
            ],
        )


def check_codes(
    cols: Columns,
    key: str,
    noun: str,
    mapping: dict[str, str] | None,
    keep_unmapped: bool,
    known: frozenset[str] | None,
    rejections: Rejections,
) -> pa.Array:
    """A store or product code: not empty, mapped to the company's code when the source maps codes, and in the
    source's master data when it is checked. A constant (``constants:``) is taken as it is."""
    spec = cols.spec
    n = cols.text.num_rows
    if key in getattr(spec, "constants", {}):
        return pa.repeat(pa.scalar(spec.constants[key], pa.string()), n)
    label = cols.label(key)
    values = cols.trimmed(key)
    empty = cols.missing(key)
    rejections.reject(empty, f"{label}: empty {noun} code")
    if mapping is not None:
        encoded = pc.dictionary_encode(values)
        uniques = encoded.dictionary.to_pylist()
        mapped_uniques = pa.array([mapping.get(code) for code in uniques], type=pa.string())
        mapped = mapped_uniques.take(encoded.indices)
        unmapped = _bool(pc.is_null(mapped)) & ~empty
        if not keep_unmapped and unmapped.any():
            rejections.reject(
                unmapped,
                f"{label}: {noun} code has no mapping to a company code",
                lambda positions: [
                    f"{label}: {noun} code {_shown(values[int(i)].as_py())} has no mapping to a company code "
                    f"({noun}_codes)"
                    for i in positions
                ],
            )
        values = pc.coalesce(mapped, values)
    if known is not None:
        unknown = ~_bool(pc.is_in(values, value_set=pa.array(sorted(known), type=pa.string()))) & ~empty
        if unknown.any():
            rejections.reject(
                unknown,
                f"{label}: unknown {noun} code (not in the source's {noun} master data)",
                lambda positions: [
                    f"{label}: {noun} code {_shown(values[int(i)].as_py())} is not in the source's {noun} "
                    "master data"
                    for i in positions
                ],
            )
    return values


def parse_number_column(cols: Columns, field_name: str, rejections: Rejections) -> np.ndarray:
    """A numeric field as float64 (NaN where missing); a cell that is neither a number nor a missing-value token
    rejects its row."""
    numbers, bad = parse_numbers(cols.trimmed(field_name), cols.spec.csv.decimal, cols.spec.csv.thousands)
    bad &= ~cols.missing(field_name)
    if bad.any():
        label = cols.label(field_name)
        trimmed = cols.trimmed(field_name)
        rejections.reject(
            bad,
            f"{label}: not a number",
            lambda positions: [
                f"{label}: {_shown(trimmed[int(i)].as_py())} is not a number" for i in positions
            ],
        )
    return numbers


def parse_numbers(text: pa.Array, decimal: str, thousands: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN where a cell is not a number, mask of cells that are not numbers)."""
    cleaned = text
    if thousands:
        cleaned = pc.replace_substring(cleaned, thousands, "")
    if decimal == ",":
        cleaned = pc.replace_substring(cleaned, ",", ".")
    valid = pc.match_substring_regex(cleaned, NUMBER)
    numbers = pc.cast(pc.if_else(valid, cleaned, pa.scalar(None, pa.string())), pa.float64())
    return numbers.to_numpy(zero_copy_only=False), ~_bool(valid)


def check_measures(
    cols: Columns, spec: SelloutFileSpec, out: dict, returns: np.ndarray, rejections: Rejections
) -> None:
    """The feed's measure must be there; a negative measure only on a return row; a price never negative."""
    measure = spec.measure
    values = out[measure]
    label = cols.label(measure)
    noun = "units" if measure == UNITS else "sales value"
    rejections.reject(np.isnan(values), f"{label}: no {noun} (the measure of this feed)")
    for column in (UNITS, SALES_VALUE):
        if out[column] is None:
            continue
        values = out[column]
        label = cols.label(column)
        noun = "units" if column == UNITS else "sales value"
        negative = (values < 0) & ~returns
        if negative.any():
            how = "returns_column" if spec.returns_column else "no returns_column is configured"
            rejections.reject(
                negative,
                f"{label}: negative {noun} on a row not marked as a return",
                lambda positions, values=values, label=label, noun=noun, how=how: [
                    f"{label}: negative {noun} ({values[i]:g}) on a row not marked as a return ({how})"
                    for i in positions
                ],
            )
    for column in PRICE_COLUMNS:
        if out[column] is None:
            continue
        values = out[column]
        label = cols.label(column)
        rejections.reject(
            values < 0,
            f"{label}: negative {column.replace('_', ' ')}",
            lambda positions, values=values, label=label, column=column: [
                f"{label}: negative {column.replace('_', ' ')} ({values[i]:g})" for i in positions
            ],
        )


def _flags(
    cols: Columns, column: str | None, true_values: list[str], by_field: str | None = None
) -> np.ndarray:
    n = cols.text.num_rows
    if column is None:
        return np.zeros(n, dtype=bool)
    text = cols.trimmed(by_field) if by_field else pc.utf8_trim_whitespace(cols.text.column(column))
    return _bool(pc.is_in(text, value_set=pa.array(true_values, type=pa.string())))


def _text(cols: Columns, field_name: str) -> pa.Array:
    trimmed = cols.trimmed(field_name)
    return pc.if_else(cols.missing(field_name), pa.scalar(None, pa.string()), trimmed)


def check_duplicates(
    cols: Columns, out: dict, date_field: str, returns: np.ndarray, rejections: Rejections
) -> None:
    """Rows with one key (store, product, week or day): exact duplicates keep the first; rows that differ are all
    rejected, naming the columns that differ. Return rows are added to their key's row, not compared."""
    candidate = rejections.ok & ~returns
    if candidate.sum() < 2:
        return
    date_values = out[DAY] if date_field == DAY else out[WEEK]
    positions = np.flatnonzero(candidate)
    keys = row_keys(out[STORE], out[PRODUCT], date_values)[positions]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    repeated = counts[inverse] > 1
    if not repeated.any():
        return
    lines = cols.text.lines()
    group_positions = positions[repeated]
    compared = [c for c in _COMPARED if c in cols.names and out.get(c) is not None]
    values = {c: _values_at(out[c], group_positions) for c in compared}
    groups = pd.Series(inverse[repeated]).groupby(inverse[repeated], sort=False).indices
    exact: dict[int, str] = {}
    conflict: dict[int, str] = {}
    noun = "day" if date_field == DAY else "week"
    for unordered in groups.values():
        order = np.argsort(lines[group_positions[unordered]], kind="stable")
        members = unordered[order]
        rows = group_positions[members]
        differing = [c for c in compared if len({_same(v) for v in values[c][members]}) > 1]
        if not differing:
            first = int(lines[rows[0]])
            for row in rows[1:]:
                exact[int(row)] = f"exact duplicate of line {first} (that line loads)"
            continue
        for index, row in enumerate(rows):
            others = ", ".join(str(int(lines[r])) for j, r in enumerate(rows) if j != index)
            shown = "; ".join(
                f"{cols.names[c]!r} {' vs '.join(_fmt(values[c][m]) for m in members)}" for c in differing
            )
            conflict[int(row)] = (
                f"same store, product and {noun} as line {others} with different values ({shown}): "
                "none of them loads"
            )
    if exact:
        mask = np.zeros(len(candidate), bool)
        mask[list(exact)] = True
        rejections.reject(mask, "exact duplicate of an earlier line", lambda p: [exact[int(i)] for i in p])
    if conflict:
        mask = np.zeros(len(candidate), bool)
        mask[list(conflict)] = True
        rejections.reject(
            mask,
            f"same store, product and {noun} on several lines with different values",
            lambda p: [conflict[int(i)] for i in p],
        )


def row_keys(stores: pa.Array, products: pa.Array, dates: np.ndarray) -> np.ndarray:
    """One int64 per row that is equal for rows with the same store, product and date (codes by their dictionary
    index, dates by their day)."""
    store_ids = pc.dictionary_encode(stores).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    product_dictionary = pc.dictionary_encode(products)
    product_ids = product_dictionary.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    days = dates.astype("datetime64[D]").astype(np.int64)
    days = np.where(
        np.isnat(dates), 0, days - (days[~np.isnat(dates)].min() if (~np.isnat(dates)).any() else 0)
    )
    n_days = int(days.max()) + 1 if len(days) else 1
    n_products = len(product_dictionary.dictionary) or 1
    return (store_ids * n_products + product_ids) * n_days + days


def _str_array(values: pa.Array) -> pd.arrays.ArrowStringArray:
    """Arrow text as pandas' ``str`` column, without a copy of the characters."""
    return pd.arrays.ArrowStringArray(pa.chunked_array([values]).cast(pa.large_string()), dtype=STR)


def _arrow_series(values: pa.Array) -> pd.Series:
    return pd.Series(_str_array(values))


def _values_at(values, positions: np.ndarray) -> np.ndarray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return np.array(values.take(pa.array(positions)).to_pylist(), dtype=object)
    return np.asarray(values)[positions]


def _same(value):
    return "<missing>" if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _fmt(value) -> str:
    value = _same(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _canonical_frame(text: TextTable, out: dict, good: np.ndarray, spec: SelloutFileSpec) -> pd.DataFrame:
    positions = np.flatnonzero(good)
    everything = len(positions) == text.num_rows
    take = pa.array(positions, type=pa.int64())
    columns: dict[str, object] = {"line_no": text.lines()[positions] if not everything else text.lines()}
    for name, values in out.items():
        if values is None:
            if name in NUMERIC_SELLOUT_COLUMNS:
                columns[name] = np.full(len(positions), np.nan)
            continue
        if isinstance(values, pa.Array):
            chosen = values if everything else values.take(take)
            columns[name] = _str_array(chosen)
        else:
            columns[name] = values if everything else values[positions]
    frame = pd.DataFrame(columns, copy=False)
    for name in (WEEK, DAY):
        if name in frame:
            frame[name] = frame[name].astype("datetime64[ns]")
    return frame


def aggregate_weeks(rows: pd.DataFrame, daily: bool, days_per_week: int) -> pd.DataFrame:
    """One row per store, product and week: measures summed (a return row is added to its week's row), price as
    the units-weighted mean of the trading days (plain mean without units), base price likewise, a flag true if
    any day has it, names the first given. A daily feed's weeks also get the days reported, the closed days, and
    whether the week is complete (``days_per_week`` days reported). Vectorised over one key per row."""
    stores = pa.array(rows[STORE].array._pa_array.combine_chunks())
    products = pa.array(rows[PRODUCT].array._pa_array.combine_chunks())
    weeks = rows[WEEK].to_numpy()
    keys = row_keys(stores, products, weeks)
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    n = len(first)
    sale = ~rows[IS_RETURN].to_numpy()
    trading = sale & (rows[OPEN].to_numpy() if daily else True)  # a closed day's price says nothing

    def total(values: np.ndarray, where: np.ndarray | bool = True) -> tuple[np.ndarray, np.ndarray]:
        present = ~np.isnan(values) & where
        sums = np.bincount(group, weights=np.where(present, values, 0.0), minlength=n)
        return sums, np.bincount(group, weights=present, minlength=n)

    out: dict[str, object] = {}
    order = np.argsort(first, kind="stable")  # the weeks in the order of their first line
    take = first[order]
    out["line_no"] = rows["line_no"].to_numpy()[take]
    out[STORE] = _str_array(stores.take(pa.array(take)))
    out[PRODUCT] = _str_array(products.take(pa.array(take)))
    out[WEEK] = weeks[take]
    units = rows[UNITS].to_numpy()
    for column in (UNITS, SALES_VALUE):
        sums, counts = total(rows[column].to_numpy())
        out[column] = np.where(counts > 0, sums, np.nan)[order]
    weight = np.where(~np.isnan(units) & trading, np.abs(units), 0.0)
    for column in PRICE_COLUMNS:
        price = rows[column].to_numpy()
        present = ~np.isnan(price) & trading
        weighted = np.bincount(group, weights=np.where(present, price * weight, 0.0), minlength=n)
        weights = np.bincount(group, weights=np.where(present, weight, 0.0), minlength=n)
        plain, count = total(price, trading)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(weights > 0, weighted / weights, np.where(count > 0, plain / count, np.nan))
        out[column] = value[order]
    for flag in SELLOUT_FLAGS:
        out[flag] = (np.bincount(group, weights=rows[flag].to_numpy(), minlength=n) > 0)[order]
    for name in SELLOUT_TEXT_COLUMNS:
        if name in rows:
            values = rows[name].array._pa_array.combine_chunks()
            given = np.flatnonzero(~_bool(pc.is_null(values)))
            chosen = np.full(n, -1, dtype=np.int64)
            groups_given, first_given = np.unique(group[given], return_index=True)
            chosen[groups_given] = given[first_given]
            picked = values.take(pa.array(np.where(chosen < 0, 0, chosen)))
            out[name] = _str_array(pc.if_else(pa.array(chosen < 0), pa.scalar(None, pa.string()), picked))
            out[name] = out[name][order]
    all_returns = np.bincount(group, weights=sale, minlength=n)[order] == 0
    out[IS_RETURN] = all_returns | (np.nan_to_num(out[UNITS]) < 0) | (np.nan_to_num(out[SALES_VALUE]) < 0)
    if daily:
        days = rows[DAY].to_numpy().astype("datetime64[D]").astype(np.int64)
        day_keys = group * 8 + (days - weeks.astype("datetime64[D]").astype(np.int64) + 7)  # 1..7 in a week
        _, where_first = np.unique(day_keys, return_index=True)
        reported = np.bincount(group[where_first], minlength=n)
        closed = np.bincount(group[where_first], weights=~rows[OPEN].to_numpy()[where_first], minlength=n)
        out[DAYS_REPORTED] = reported[order].astype(np.int16)
        out[DAYS_CLOSED] = closed[order].astype(np.int16)
        out[IS_COMPLETE_WEEK] = reported[order] >= days_per_week
    frame = pd.DataFrame(out, copy=False)
    frame[WEEK] = frame[WEEK].astype("datetime64[ns]")
    return frame


def derive_price(rows: pd.DataFrame, spec: SelloutFileSpec) -> pd.DataFrame:
    """No price column: the price is the sales value over the units (``derive_price``), where both are positive
    (no price for a week without units, or one that returns go negative)."""
    if "price" in spec.columns or not spec.derive_price:
        return rows
    if UNITS not in spec.columns or SALES_VALUE not in spec.columns:
        return rows
    units, sales = rows[UNITS].to_numpy(), rows[SALES_VALUE].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rows["price"] = np.where((units > 0) & (sales >= 0), sales / units, np.nan)
    return rows


def parse_master(
    text: TextTable, spec: MasterFileSpec, code_map: dict[str, str] | None = None
) -> ParseResult:
    """Check a store or product master file and map it to canonical fields: a row needs its code; a non-numeric
    or negative sales area rejects it; rows with one code load once when identical, not at all when they
    differ."""
    cols = Columns(text, spec)
    key = spec.FIELDS[0]
    noun = "store" if key == STORE else "product"
    rejections = Rejections(text.num_rows)
    with rule("control characters"):
        check_control_characters(cols, rejections)
    out: dict[str, object] = {}
    with rule("codes"):
        label = cols.label(key)
        empty = cols.missing(key)
        rejections.reject(empty, f"{label}: empty {noun} code")
        codes = cols.trimmed(key)
        if code_map:
            encoded = pc.dictionary_encode(codes)
            mapped = pa.array([code_map.get(c, c) for c in encoded.dictionary.to_pylist()], pa.string())
            codes = mapped.take(encoded.indices)
        out[key] = codes
    for name in spec.columns:
        if name == key:
            continue
        with rule(name):
            if name == "sales_area":
                out[name] = parse_number_column(cols, name, rejections)
                label = cols.label(name)
                rejections.reject(out[name] < 0, f"{label}: negative sales area")
            else:
                out[name] = _text(cols, name)
    with rule("duplicate codes"):
        good = rejections.ok
        frame = pd.DataFrame({"k": _arrow_series(codes)})
        positions = np.flatnonzero(good)
        repeated = frame.iloc[positions]["k"].duplicated(keep=False).to_numpy()
        if repeated.any():
            lines = text.lines()
            details: dict[int, str] = {}
            for _, members in frame.iloc[positions[repeated]].groupby("k", sort=False).indices.items():
                rows = positions[repeated][members]
                rows = rows[np.argsort(lines[rows], kind="stable")]
                seen = [tuple(_same(_values_at(out[c], np.array([r]))[0]) for c in out) for r in rows]
                if len(set(seen)) == 1:
                    for row in rows[1:]:
                        details[int(row)] = f"exact duplicate of line {int(lines[rows[0]])} (that line loads)"
                else:
                    for row in rows:
                        others = ", ".join(str(int(lines[r])) for r in rows if r != row)
                        details[int(row)] = (
                            f"{cols.label(key)}: {noun} code also on line {others} with other values: none loads"
                        )
            mask = np.zeros(text.num_rows, bool)
            mask[list(details)] = True
            rejections.reject(mask, f"{noun} code on several lines", lambda p: [details[int(i)] for i in p])
    good = rejections.ok
    positions = np.flatnonzero(good)
    take = pa.array(positions, type=pa.int64())
    columns = {}
    for name, values in out.items():
        if isinstance(values, pa.Array):
            columns[name] = _str_array(values.take(take))
        else:
            columns[name] = np.asarray(values)[positions]
    rows = pd.DataFrame(columns)
    return ParseResult(rows=rows, text=text, rejections=rejections, accepted=len(rows))


def master_key(spec: FileSpec) -> str:
    """The code column of a master data file: store_code for stores, product_code for products."""
    return STORE if STORE in spec.columns else PRODUCT
