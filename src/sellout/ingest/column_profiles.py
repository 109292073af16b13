"""What a sample says about each column of a file (:class:`ColumnProfile`): how many cells are filled and
distinct, whether they are numbers (integers, negative, with missing-value marks), dates (in which format) or a
two-valued flag (and its "yes" spelling)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sellout.config.sources import DEFAULT_NA_VALUES
from sellout.ingest.conversions import parse_dates, parse_numbers, weekday_of
from sellout.ingest.reading import TextTable

DATE_FORMATS = (
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d.%m.%y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%Y%m%d",
    "%d%m%Y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%d-%b-%y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %B %Y",
    # ISO week numbers: a row is dated on its week's week_ending_weekday
    "%G-W%V",
    "%GW%V",
    "KW %V/%G",
    "KW%V/%G",
    "KW %V %G",
    # a database's or a system's export: a timestamp at midnight
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
)
TRUE_TOKENS = ("1", "y", "yes", "j", "ja", "x", "true", "t", "wahr")
FALSE_TOKENS = ("0", "n", "no", "nein", "false", "f", "falsch", "")
# Spellings of "no value" seen in numeric columns of exports, beyond DEFAULT_NA_VALUES (compared in lower case).
NA_LIKE = frozenset(
    {"-", "--", ".", "?", "k.a.", "k. a.", "n.a.", "n/a", "na", "#nv", "#n/a", "nv", "null", "none"}
)


@dataclass
class ColumnProfile:
    """What the sample says about one column."""

    name: str
    values: pa.Array  # trimmed text
    filled: int = 0
    distinct: int = 0
    numeric: bool = False
    integers: bool = False
    negative: bool = False
    flag_true: str | None = None  # the "yes" token when the column is a two-valued flag
    date_format: str | None = None
    dates: np.ndarray | None = None
    # other formats that read the dates differently, and the distinct values the chosen one does not read
    date_alternatives: list[str] = field(default_factory=list)
    non_dates: list[str] = field(default_factory=list)
    na_tokens: list[str] = field(default_factory=list)  # missing-value marks in a numeric column (e.g. "-")
    bad_values: list[str] = field(default_factory=list)  # the few other non-numbers of a numeric column


def profile_column(
    text: TextTable, index: int, decimal: str, thousands: str | None, spreadsheet: bool = False
) -> ColumnProfile:
    """What the sample says of column ``index``; ``spreadsheet``: its cells come from a workbook (whose date
    cells arrive as ``2026-09-05 00:00:00`` whatever the format of its text cells)."""
    values = pc.utf8_trim_whitespace(text.table.column(index).combine_chunks())
    profile = ColumnProfile(name=text.columns[index], values=values)
    missing = pc.is_in(values, value_set=pa.array(list(DEFAULT_NA_VALUES)))
    filled = pc.filter(values, pc.invert(missing))
    profile.filled = len(filled)
    uniques = pc.unique(filled)
    profile.distinct = len(uniques)
    if not profile.filled:
        return profile
    if not _digits_only(uniques) or _date_like_digits(uniques):
        profile.date_format, profile.dates, profile.date_alternatives = _date_format(
            filled, uniques, spreadsheet
        )
    if profile.date_format:
        cells = pc.utf8_slice_codeunits(uniques, 0, 10) if spreadsheet and _iso_cells(uniques) else uniques
        unread = np.isnat(parse_dates(cells, profile.date_format))
        profile.non_dates = [v for v, bad in zip(uniques.to_pylist(), unread, strict=True) if bad]
        return profile
    numbers, bad = parse_numbers(uniques, decimal, thousands)
    tokens = [t for t, b in zip(uniques.to_pylist(), bad, strict=True) if b]
    others = [t for t in tokens if t.lower() not in NA_LIKE]
    if (~bad).any() and len(others) <= max(1, profile.distinct // 100):
        good = numbers[~bad]
        profile.numeric = True
        profile.na_tokens = [t for t in tokens if t.lower() in NA_LIKE]
        profile.bad_values = others
        profile.integers = bool(np.all(good == np.round(good)))
        profile.negative = bool(np.any(good < 0))
    lowered = {str(v).lower() for v in uniques.to_pylist()}
    if len(lowered) <= 2 and lowered <= set(TRUE_TOKENS) | set(FALSE_TOKENS):
        trues = [v for v in uniques.to_pylist() if v.lower() in TRUE_TOKENS]
        falses = [v for v in uniques.to_pylist() if v.lower() in FALSE_TOKENS]
        if trues and (falses or len(lowered) == 1) or (falses and not trues):
            profile.flag_true = trues[0] if trues else _true_for(falses[0])
    return profile


def _digits_only(uniques: pa.Array) -> bool:
    return bool(pc.all(pc.match_substring_regex(uniques, r"^[+-]?\d+([.,]\d+)?$")).as_py())


def _true_for(false_token: str) -> str:
    pairs = {"0": "1", "n": "y", "no": "yes", "nein": "ja", "false": "true", "f": "t", "": "X"}
    token = pairs.get(false_token.lower(), "1")
    return token.upper() if false_token.isupper() else token


def _date_like_digits(uniques: pa.Array) -> bool:
    sample = uniques.to_pylist()[:200]
    return bool(sample) and all(re.fullmatch(r"(19|20)\d{6}|\d{8}", v) for v in sample)


def _iso_cells(uniques: pa.Array) -> bool:
    """A spreadsheet's date cells, which arrive as ``2026-09-05 00:00:00`` (all but a few: a "Total" row)."""
    sample = uniques.slice(0, 50).to_pylist()
    cells = sum(bool(re.fullmatch(r"\d{4}-\d{2}-\d{2} 00:00:00", v)) for v in sample)
    return cells > 0 and len(sample) - cells <= max(1, len(sample) // 50)


def _date_format(
    filled: pa.Array, uniques: pa.Array, spreadsheet: bool
) -> tuple[str | None, np.ndarray | None, list[str]]:
    """The first format that reads every value of the column (ties: the one whose dates fall on fewest weekdays,
    which a weekly feed's dates do), with the parsed dates. A few values that are no dates (2% of the distinct
    values, or one row or 2% of the rows: a file's "Total" line) do not hide the format; their rows are
    rejected."""
    sample = uniques.slice(0, 5000)
    if spreadsheet and _iso_cells(sample):
        dates = parse_dates(pc.utf8_slice_codeunits(filled, 0, 10), "%Y-%m-%d")
        few = np.isnat(dates).sum() <= max(1, len(dates) // 50)
        return ("%Y-%m-%d", dates, []) if few else (None, None, [])
    rows_per_value = pc.value_counts(filled)
    counts = dict(
        zip(
            rows_per_value.field("values").to_pylist(),
            rows_per_value.field("counts").to_pylist(),
            strict=True,
        )
    )
    sample_rows = np.array([counts[v] for v in sample.to_pylist()])
    fits = []
    for date_format in DATE_FORMATS:
        parsed = parse_dates(sample, date_format)
        failed = np.isnat(parsed)
        failed_rows = sample_rows[failed].sum()
        few = failed.sum() <= len(parsed) // 50 or failed_rows <= max(1, sample_rows.sum() // 50)
        if len(parsed) and few and not failed.all():
            parsed = parsed[~np.isnat(parsed)]
            years = parsed.astype("datetime64[Y]").astype(int) + 1970
            if years.min() < 1980 or years.max() > 2100:
                continue
            fits.append((len(set(weekday_of(parsed).tolist())), DATE_FORMATS.index(date_format), date_format))
    if not fits:
        return None, None, []
    best = min(fits)
    alternatives = [f for n, _, f in sorted(fits) if n == best[0] and f != best[2]]
    return best[2], parse_dates(filled, best[2]), alternatives
