"""A file's Arrow text as values: dates, weekdays, numbers, boolean masks and pandas text columns.

Each function reads a whole column at once; the row rules (:mod:`sellout.ingest.field_rules`) and
``sellout sources suggest`` / ``check`` use them alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_EPOCH_THURSDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default text dtype
WEEKDAY_DIRECTIVES = ("%u", "%w", "%a", "%A")


def true_mask(array) -> np.ndarray:
    """An Arrow boolean array as a numpy mask, null read as False."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def pandas_text(values: pa.Array) -> pd.arrays.ArrowStringArray:
    """Arrow text as pandas' ``str`` column, without a copy of the characters."""
    return pd.arrays.ArrowStringArray(pa.chunked_array([values]).cast(pa.large_string()), dtype=STR)


def is_week_number_format(date_format: str | None) -> bool:
    """Whether ``date_format`` reads an ISO week number without a day: ``%G-W%V``, ``KW %V/%G``."""
    return bool(date_format) and "%V" in date_format and not any(d in date_format for d in WEEKDAY_DIRECTIVES)


def parse_dates(
    text: pa.Array, date_format: str | None, from_spreadsheet: bool = False, week_number_day: int = 6
) -> np.ndarray:
    """Dates of a text column (each distinct text parsed once) as ``datetime64[ns]``, NaT where one fails. A
    week number is dated on weekday ``week_number_day`` (Monday = 0) of its ISO week."""
    encoded = pc.dictionary_encode(text)
    uniques = pd.Series(encoded.dictionary.to_pylist(), dtype=object)
    if is_week_number_format(date_format):
        with_day = uniques.map(lambda v: None if v is None else f"{v} {week_number_day + 1}")
        parsed = pd.to_datetime(with_day, format=f"{date_format} %u", errors="coerce")
    elif date_format:
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


def parse_numbers(text: pa.Array, decimal: str, thousands: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN where a cell is not a number, mask of cells that are not numbers)."""
    cleaned = text
    if thousands:
        cleaned = pc.replace_substring(cleaned, thousands, "")
    if decimal == ",":
        cleaned = pc.replace_substring(cleaned, ",", ".")
    valid = pc.match_substring_regex(cleaned, NUMBER)
    numbers = pc.cast(pc.if_else(valid, cleaned, pa.scalar(None, pa.string())), pa.float64())
    return numbers.to_numpy(zero_copy_only=False), ~true_mask(valid)
