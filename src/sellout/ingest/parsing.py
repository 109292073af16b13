"""Parse a sell-out file: check its rows and map the good ones to canonical rows, keeping every rejected row with
its line and reason.

:func:`parse_sellout` runs the row rules in order (:mod:`sellout.ingest.field_rules`, then the duplicate keys of
:mod:`sellout.ingest.duplicates`), each inside :func:`~sellout.ingest.rejections.rule`. The first rule a row fails
gives its reason, and every row of the file ends up either in the rows that load or in the rejected rows; the good
rows become the weekly rows that load (:mod:`sellout.ingest.weekly_totals`). Master files are parsed by
:mod:`sellout.ingest.master_files`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from sellout.canonical import (
    DAY,
    IS_RETURN,
    MEASURE,
    NUMERIC_SELLOUT_COLUMNS,
    OPEN,
    PRODUCT,
    SELLOUT_FLAGS,
    SELLOUT_TEXT_COLUMNS,
    STORE,
    UNITS,
    WEEK,
)
from sellout.config.sources import SelloutFileSpec
from sellout.ingest.columns import Columns
from sellout.ingest.conversions import pandas_text
from sellout.ingest.duplicates import check_duplicates
from sellout.ingest.field_rules import (
    check_codes,
    check_control_characters,
    check_delivery_window,
    check_measures,
    check_summary_lines,
    check_weekday,
    parse_date_column,
    parse_number_column,
)
from sellout.ingest.reading import TextTable
from sellout.ingest.rejections import Rejections, rule
from sellout.ingest.results import ParseResult
from sellout.ingest.row_checks import RowRules
from sellout.ingest.weekly_totals import aggregate_weeks, derive_price

_UNCHECKED = RowRules()  # no delivery window, no code mappings, no master data to check against


def parse_sellout(text: TextTable, spec: SelloutFileSpec, rules: RowRules = _UNCHECKED) -> ParseResult:
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
    with rule("summary lines"):
        check_summary_lines(cols, rejections)
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
        cols.column_flags(spec.returns_column, spec.true_values) if spec.returns_column else np.zeros(n, bool)
    )
    with rule("measures"):
        check_measures(cols, spec, out, returns, rejections)
    with rule("flags"):
        for flag in SELLOUT_FLAGS:
            out[flag] = cols.flags(flag, spec.true_values)
        if daily:
            out[OPEN] = cols.flags(OPEN, spec.true_values) if OPEN in spec.columns else np.ones(n, bool)
    for name in SELLOUT_TEXT_COLUMNS:
        if name in spec.columns:
            out[name] = cols.nullable_text(name)
    if spec.units_per_case != 1 and out[UNITS] is not None:
        out[UNITS] = out[UNITS] * spec.units_per_case
    out[IS_RETURN] = returns
    with rule("duplicate keys"):
        check_duplicates(cols, out, date_field, returns, rejections)

    good = rejections.ok
    rows = _canonical_frame(text, out, good)
    accepted = int(good.sum())
    with rule("weekly totals"):
        if daily or (returns[good].any()):
            rows = aggregate_weeks(rows, daily, spec.days_per_week)
    with rule("derived price"):
        rows = derive_price(rows, spec)
    rows[MEASURE] = spec.measure
    return ParseResult(rows=rows, text=text, rejections=rejections, accepted=accepted)


def _canonical_frame(text: TextTable, out: dict, good: np.ndarray) -> pd.DataFrame:
    """The good rows' canonical columns as a frame, with each row's line in the file."""
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
            columns[name] = pandas_text(chosen)
        else:
            columns[name] = values if everything else values[positions]
    frame = pd.DataFrame(columns, copy=False)
    for name in (WEEK, DAY):
        if name in frame:
            frame[name] = frame[name].astype("datetime64[ns]")
    return frame
