"""Rows that share one key: a sell-out file's store, product and week (or day), a master file's code.

Exact duplicates load once (the first line); rows with one key and different values are all rejected, naming the
columns that differ. :func:`row_keys` is the key, also the one the weekly totals group by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sellout import canonical
from sellout.canonical import DAY, PRODUCT, STORE, WEEK
from sellout.ingest.columns import Columns
from sellout.ingest.conversions import pandas_text
from sellout.ingest.rejections import Rejections

# what a conflict between two rows with one key is about, by canonical column (the file's name is shown)
_COMPARED = (
    *canonical.NUMERIC_SELLOUT_COLUMNS,
    *canonical.SELLOUT_FLAGS,
    *canonical.SELLOUT_TEXT_COLUMNS,
    canonical.OPEN,
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
        differing = [c for c in compared if len({_comparable(v) for v in values[c][members]}) > 1]
        if not differing:
            exact.update(_exact_duplicates(rows, lines))
            continue
        for index, row in enumerate(rows):
            others = ", ".join(str(int(lines[r])) for j, r in enumerate(rows) if j != index)
            shown = "; ".join(
                f"{cols.names[c]!r} {' vs '.join(_formatted(values[c][m]) for m in members)}"
                for c in differing
            )
            conflict[int(row)] = (
                f"same store, product and {noun} as line {others} with different values ({shown}): "
                "none of them loads"
            )
    if exact:
        rejections.reject_rows(exact, "exact duplicate of an earlier line")
    if conflict:
        rejections.reject_rows(
            conflict, f"same store, product and {noun} on several lines with different values"
        )


def check_duplicate_codes(cols: Columns, out: dict, key: str, noun: str, rejections: Rejections) -> None:
    """A master file's rows with one code (``out[key]``) among the rows not yet rejected: identical rows load
    once, rows that differ in any column do not load."""
    positions = np.flatnonzero(rejections.ok)
    frame = pd.DataFrame({"k": pd.Series(pandas_text(out[key]))})
    repeated = frame.iloc[positions]["k"].duplicated(keep=False).to_numpy()
    if not repeated.any():
        return
    lines = cols.text.lines()
    details: dict[int, str] = {}
    for _, members in frame.iloc[positions[repeated]].groupby("k", sort=False).indices.items():
        rows = positions[repeated][members]
        rows = rows[np.argsort(lines[rows], kind="stable")]
        seen = [tuple(_comparable(_values_at(out[c], np.array([r]))[0]) for c in out) for r in rows]
        if len(set(seen)) == 1:
            details.update(_exact_duplicates(rows, lines))
            continue
        for row in rows:
            others = ", ".join(str(int(lines[r])) for r in rows if r != row)
            details[int(row)] = (
                f"{cols.label(key)}: {noun} code also on line {others} with other values: none loads"
            )
    rejections.reject_rows(details, f"{noun} code on several lines")


def _exact_duplicates(rows: np.ndarray, lines: np.ndarray) -> dict[int, str]:
    """The detail of each row after the first of a group of identical rows (``rows`` in the order of lines)."""
    first = int(lines[rows[0]])
    return {int(row): f"exact duplicate of line {first} (that line loads)" for row in rows[1:]}


def _values_at(values, positions: np.ndarray) -> np.ndarray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return np.array(values.take(pa.array(positions)).to_pylist(), dtype=object)
    return np.asarray(values)[positions]


def _comparable(value):
    """A value as rows are compared by: every kind of missing value is one."""
    return "<missing>" if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _formatted(value) -> str:
    value = _comparable(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
