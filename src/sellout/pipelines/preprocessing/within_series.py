"""Look-backs and fills within each series, over the panel's rows as the grid lays them out: series after
series, each series' weeks consecutive. Whole-column numpy, no group-by: a pandas group-by rolling maximum
built a (series, row) index and sorted it back, the panel stage's largest transient at 5 times dunnhumby.
Positions are int32 where the rows allow it: each per-row array of positions is a column's worth of memory.
"""

from __future__ import annotations

import numpy as np


def position_type(n: int) -> str:
    """int32 for positions below ``n`` where they fit, else int64."""
    return "int32" if n < np.iinfo("int32").max else "int64"


def series_bounds(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the positions of its series' first and last rows; ``series`` (each row's series number) must
    be sorted, as the grid's rows are."""
    series = np.asarray(series)
    n = len(series)
    if n == 0:
        return np.empty(0, dtype="int64"), np.empty(0, dtype="int64")
    if np.any(series[1:] < series[:-1]):
        raise ValueError("the rows must be in series order (the grid's)")
    starts = np.flatnonzero(np.concatenate([[True], series[1:] != series[:-1]])).astype(position_type(n))
    ends = np.append(starts[1:], n).astype(starts.dtype) - 1
    lengths = ends - starts + 1
    return np.repeat(starts, lengths), np.repeat(ends, lengths)


def rolling_max(values: np.ndarray, first: np.ndarray, window: int) -> np.ndarray:
    """The largest value of each row and the ``window`` - 1 rows before it in its series, NaN skipped (NaN if
    all are); ``first``: each row's series' first row (``series_bounds``)."""
    out = np.array(values, dtype="float64")
    back_in_series = np.arange(len(out), dtype=first.dtype)
    back_in_series -= first  # rows of its series before each row
    shifted = np.empty_like(out)
    outside = np.empty(len(out), dtype=bool)
    for back in range(1, min(window, len(out))):
        shifted[:back] = np.nan
        shifted[back:] = values[:-back]
        np.less(back_in_series, back, out=outside)
        shifted[outside] = np.nan
        np.fmax(out, shifted, out=out)
    return out


def fill_within(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """``values`` with each NaN taken from the last value before it in its series, else the first after it."""
    values = np.asarray(values, dtype="float64")
    n = len(values)
    unknown = np.isnan(values)
    before = np.arange(n, dtype=first.dtype)
    before[unknown] = -1
    np.maximum.accumulate(before, out=before)  # the last known row at or before each row
    after = np.arange(n, dtype=first.dtype)
    after[unknown] = n
    np.minimum.accumulate(after[::-1], out=after[::-1])  # the first known row at or after each row
    source = np.where(before >= first, before, after)
    del before, after
    out = np.full(n, np.nan)
    found = source <= last
    out[found] = values[source[found]]
    return out
