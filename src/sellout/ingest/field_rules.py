"""The row rules a sell-out file's fields must pass, one field at a time: no control characters, no summary
line, a date in the configured format, the week's weekday, the delivery window, store and product codes, numbers
and measures.

Each rule is vectorised over the file's Arrow text columns and rejects the rows it fails with their reason
(``column 'STORE_NUM': empty store code``); :func:`sellout.ingest.parsing.parse_sellout` runs them in order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sellout.canonical import PRICE_COLUMNS, PRODUCT, SALES_VALUE, STORE, UNITS, WEEK
from sellout.config.sources import WEEKDAYS, SelloutFileSpec
from sellout.ingest.columns import Columns
from sellout.ingest.conversions import parse_dates, parse_numbers, true_mask, weekday_of
from sellout.ingest.rejections import Rejections, shown
from sellout.ingest.row_checks import RowRules

CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def check_control_characters(cols: Columns, rejections: Rejections) -> None:
    """A mapped cell with a control character (NUL, ...) rejects its row: such text is garbled, and PostgreSQL
    cannot even store a NUL."""
    if cols.text.control_characters is False:
        return  # the reader saw none in the whole file
    for field_name in cols.names:
        found = true_mask(pc.match_substring_regex(cols.raw(field_name), CONTROL_CHARACTERS))
        if found.any():
            raw, label = cols.raw(field_name), cols.label(field_name)
            rejections.reject_each(
                found, f"{label}: contains a control character", _control_detail(raw, label)
            )


SUMMARY_LINE = "a summary line (no store and no product code), not a sale"


def check_summary_lines(cols: Columns, rejections: Rejections) -> None:
    """A row whose store and product codes are both empty (of those the file has) is an export's total or
    subtotal line ("Total", "Summe"), not a sale: rejected as such, it does not count against the file
    (``ingestion.max_rejected_share``)."""
    keys = [key for key in (STORE, PRODUCT) if key in cols.spec.columns]
    if not keys:
        return
    summary = np.logical_and.reduce([cols.missing(key) for key in keys])
    rejections.reject(summary, SUMMARY_LINE)


def _control_detail(raw: pa.Array, label: str) -> Callable[[int], str]:
    return lambda i: f"{label}: contains a control character ({_first_control(raw[i].as_py())})"


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
    dates = parse_dates(trimmed, spec.date_format, spec.format == "xlsx", spec.week_number_day)
    bad = np.isnat(dates)
    if bad.any():
        label = cols.label(date_field)
        rejections.reject_each(
            bad,
            f"{label}: not a date in the format {spec.date_format}",
            lambda i: f"{label}: {shown(trimmed[i].as_py())} is not a date in the format {spec.date_format}",
        )
    return dates


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
        rejections.reject_each(
            wrong,
            f"{label}: not a {spec.week_ending_weekday} (week_ending_weekday)",
            lambda i: (
                f"{label}: {np.datetime_as_string(dates[i], unit='D')} is a {WEEKDAYS[weekdays[i]].title()}, but "
                f"this source's weeks end on a {spec.week_ending_weekday.title()} (week_ending_weekday)"
            ),
        )
    return dates


def check_delivery_window(
    cols: Columns, weeks: np.ndarray, date_field: str, rules: RowRules, rejections: Rejections
) -> None:
    label = cols.label(date_field)
    if rules.latest_week is not None:
        latest = np.datetime64(rules.latest_week.to_datetime64(), "ns")
        rejections.reject_each(
            weeks > latest,
            f"{label}: week after the delivery window (later than {rules.latest_week.date()})",
            lambda i: (
                f"{label}: week {np.datetime_as_string(weeks[i], unit='D')} is after the delivery window "
                f"(later than {rules.latest_week.date()}: delivery_window.max_future_days)"
            ),
        )
    if rules.earliest_week is not None:
        earliest = np.datetime64(rules.earliest_week.to_datetime64(), "ns")
        rejections.reject_each(
            (weeks < earliest) & ~np.isnat(weeks),
            f"{label}: week before the delivery window (earlier than {rules.earliest_week.date()})",
            lambda i: (
                f"{label}: week {np.datetime_as_string(weeks[i], unit='D')} is before the delivery window "
                f"(earlier than {rules.earliest_week.date()}: delivery_window.max_age_weeks)"
            ),
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
        unmapped = true_mask(pc.is_null(mapped)) & ~empty
        if not keep_unmapped and unmapped.any():
            rejections.reject_each(
                unmapped,
                f"{label}: {noun} code has no mapping to a company code",
                lambda i: (
                    f"{label}: {noun} code {shown(values[i].as_py())} has no mapping to a company code "
                    f"({noun}_codes)"
                ),
            )
        values = pc.coalesce(mapped, values)
    if known is not None:
        unknown = ~true_mask(pc.is_in(values, value_set=pa.array(sorted(known), type=pa.string()))) & ~empty
        if unknown.any():
            rejections.reject_each(
                unknown,
                f"{label}: unknown {noun} code (not in the source's {noun} master data)",
                lambda i: (
                    f"{label}: {noun} code {shown(values[i].as_py())} is not in the source's {noun} master data"
                ),
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
        rejections.reject_each(
            bad, f"{label}: not a number", lambda i: f"{label}: {shown(trimmed[i].as_py())} is not a number"
        )
    return numbers


def check_measures(
    cols: Columns, spec: SelloutFileSpec, out: dict, returns: np.ndarray, rejections: Rejections
) -> None:
    """The feed's measure must be there (units, or the sales value of a value-only feed); a negative measure only
    on a return row; a price never negative."""
    measure = spec.measure
    label = cols.label(measure)
    rejections.reject(np.isnan(out[measure]), f"{label}: no {_noun(measure)} (the measure of this feed)")
    how = "returns_column" if spec.returns_column else "no returns_column is configured"
    for column in (UNITS, SALES_VALUE):
        if out[column] is None:
            continue
        values, label, noun = out[column], cols.label(column), _noun(column)
        negative = (values < 0) & ~returns
        if negative.any():
            rejections.reject_each(
                negative,
                f"{label}: negative {noun} on a row not marked as a return",
                lambda i, values=values, label=label, noun=noun: (
                    f"{label}: negative {noun} ({values[i]:g}) on a row not marked as a return ({how})"
                ),
            )
    for column in PRICE_COLUMNS:
        if out[column] is None:
            continue
        values, label, what = out[column], cols.label(column), column.replace("_", " ")
        rejections.reject_each(
            values < 0,
            f"{label}: negative {what}",
            lambda i, values=values, label=label, what=what: f"{label}: negative {what} ({values[i]:g})",
        )


def _noun(measure: str) -> str:
    return "units" if measure == UNITS else "sales value"
