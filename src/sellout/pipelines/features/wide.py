"""The model panel as dense (series x week) matrices, the layout every feature is computed on.

A series is one (store_code, product_code) pair; ``units`` is NaN outside the series' span (before its first or
after its last week) and in its store's outage weeks (``outage``), so "not yet listed / delisted", "no data"
and "listed, nothing sold" (0) stay distinct. ``units`` holds the quantity forecast: the series' ``measure``
(units, or a value-only feed's sales value). Matrices
make each feature one vectorised array operation over all series at once. The window operations come in two
forms: over every column (``shift``, ``rolling_mean``, ... for training) and at one column (``column``,
``window_mean``, ... for the recursive forecast, which computes only the week it forecasts next).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sellout.canonical import (
    CALENDAR_INPUTS,
    DAYS_CLOSED,
    DEFAULT_SOURCE,
    MEASURE,
    PRICE_COLUMNS,
    PRODUCT_ATTRIBUTES,
    PROMO_FLAGS,
    PROMOTION,
    SELLOUT_FLAGS,
    SERIES_KEYS,
    SOURCE,
    STORE_ATTRIBUTES,
    UNITS,
    WEEK,
)
from sellout.pipelines.preprocessing.text import as_text, is_categorical

# The columns of a week that a plan can give in advance: prices, promotions and calendar inputs (days closed,
# public holidays) where a feed has them. The first ones are required in the model panel, the others optional.
EXOG_COLUMNS = (*PRICE_COLUMNS, *SELLOUT_FLAGS, *CALENDAR_INPUTS)
# Prices are float64; the flags (0/1) and calendar inputs (whole days) are float32, which holds them and NaN
# exactly in half the memory (the backtest and the forecast copy these matrices too).
EXOG_DTYPES = {column: "float64" if column in PRICE_COLUMNS else "float32" for column in EXOG_COLUMNS}
REQUIRED_EXOG = (*PRICE_COLUMNS, *PROMO_FLAGS)
# Per series attributes besides the store and product ones: which feed it comes from and what it counts.
DEFAULT_MEASURE = UNITS
DAYS_PER_WEEK = 7


@dataclass
class WidePanel:
    """Series rows x week columns.

    ``series``: one row per series (keys, source, measure and attributes), in matrix row order.
    ``weeks``: the week columns, consecutive, 7 days apart.
    ``units``: float64, NaN outside each series' span, in outage weeks and in weeks still to forecast.
    ``exog``: price, base_price (float64), calendar inputs and promo flags (float32, 0/1) per cell; NaN where
    unknown (``EXOG_DTYPES``).
    ``in_span``: True from a series' first to its last panel week.
    ``outage``: True in the weeks its store delivered nothing for (preprocessing's ``is_outage``).
    ``first``: each series' first week as a column number of this panel (negative in a window that starts
    after it); computed from ``in_span`` when not given.
    """

    series: pd.DataFrame
    weeks: pd.DatetimeIndex
    units: np.ndarray
    exog: dict[str, np.ndarray]
    in_span: np.ndarray
    outage: np.ndarray = field(default=None)  # type: ignore[assignment]
    first: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.first is None:
            self.first = np.argmax(self.in_span, axis=1).astype("int64")
        if self.outage is None:
            self.outage = np.zeros(self.units.shape, dtype=bool)
        for column in EXOG_COLUMNS:
            if column not in self.exog:  # an optional input the panel does not have
                fill = 0.0 if column == PROMOTION else np.nan
                self.exog[column] = np.full(self.units.shape, fill, dtype=EXOG_DTYPES[column])

    def series_values(self, column: str, default: str) -> np.ndarray:
        """A per-series attribute as strings (``default`` where the panel has none)."""
        if column not in self.series.columns:
            return np.full(self.n_series, default, dtype=object)
        return self.series[column].fillna(default).astype("str").to_numpy(dtype=object)

    @property
    def sources(self) -> np.ndarray:
        return self.series_values(SOURCE, DEFAULT_SOURCE)

    @property
    def measures(self) -> np.ndarray:
        return self.series_values(MEASURE, DEFAULT_MEASURE)

    @property
    def n_series(self) -> int:
        return len(self.series)

    def open_share(self) -> np.ndarray | None:
        """Each cell's share of its week the store was open, (7 - days closed) / 7: 1 where the feed does not
        say; None where no cell says (a weekly feed)."""
        closed = self.exog.get(DAYS_CLOSED)
        if closed is None or np.isnan(closed).all():
            return None
        return np.clip(1.0 - np.nan_to_num(closed.astype("float64"), nan=0.0) / DAYS_PER_WEEK, 0.0, 1.0)

    def week_index(self, week: pd.Timestamp) -> int:
        pos = self.weeks.get_indexer([pd.Timestamp(week)])[0]
        if pos < 0:
            raise KeyError(f"week {pd.Timestamp(week).date()} is not a column of the panel")
        return int(pos)

    def series_cache(self) -> dict:
        """Values derived from ``series`` alone, kept for this panel and shared with its windows and extensions
        (which have the same series). Created on first use; not pickled (``__getstate__``)."""
        cache = self.__dict__.get("_series_cache")
        if cache is None:
            cache = self.__dict__["_series_cache"] = {}
        return cache

    def __getstate__(self) -> dict:
        # A copy without the cache: the feature set is pickled on a thread (write-behind) while the next nodes
        # forecast from its panel and may add to the cache; a dict is copied in one step under the GIL.
        state = self.__dict__.copy()
        state.pop("_series_cache", None)
        return state

    def _same_series(self, panel: WidePanel) -> WidePanel:
        """``panel`` (built from this one with the same ``series``) sharing this panel's ``series_cache``."""
        panel.__dict__["_series_cache"] = self.series_cache()
        return panel

    def of_rows(self, rows: np.ndarray) -> WidePanel:
        """The series ``rows`` alone, in that order (every matrix's rows copied)."""
        return WidePanel(
            series=self.series.iloc[rows].reset_index(drop=True),
            weeks=self.weeks,
            units=self.units[rows],
            exog={column: values[rows] for column, values in self.exog.items()},
            in_span=self.in_span[rows],
            outage=self.outage[rows],
            first=self.first[rows],
        )

    def extended(self, n_weeks: int) -> WidePanel:
        """A copy with ``n_weeks`` more week columns (units NaN, exog NaN, not in span)."""
        if n_weeks <= 0:
            return self
        extra = pd.date_range(self.weeks[-1] + pd.Timedelta(days=7), periods=n_weeks, freq="7D")

        def pad(a: np.ndarray, fill) -> np.ndarray:
            return np.concatenate([a, np.full((a.shape[0], n_weeks), fill, dtype=a.dtype)], axis=1)

        extended = WidePanel(
            series=self.series,
            weeks=self.weeks.append(extra),
            units=pad(self.units, np.nan),
            exog={k: pad(v, np.nan) for k, v in self.exog.items()},
            in_span=pad(self.in_span, False),
            outage=pad(self.outage, False),
            first=self.first,
        )
        return self._same_series(extended)

    def window(self, start: int, stop: int) -> WidePanel:
        """Columns ``start`` .. ``stop - 1`` (views: a caller that writes ``units`` copies them first)."""
        start = max(int(start), 0)
        window = WidePanel(
            series=self.series,
            weeks=self.weeks[start:stop],
            units=self.units[:, start:stop],
            exog={k: v[:, start:stop] for k, v in self.exog.items()},
            in_span=self.in_span[:, start:stop],
            outage=self.outage[:, start:stop],
            first=self.first - start,
        )
        return self._same_series(window)


def factorize_keys(keys: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's position among the distinct rows of ``keys`` sorted by its columns, and those distinct rows.

    The same as ``pd.MultiIndex.from_frame(keys).factorize(sort=True)``, column by column: no tuple per row (on
    575,000 rows, 0.03 s against 0.6-2 s). A missing key is a value of its own, sorted last."""
    combined = np.zeros(len(keys), dtype="int64")
    levels = []
    for column in keys.columns:
        codes, uniques = pd.factorize(keys[column], sort=True, use_na_sentinel=False)
        if len(uniques) and combined.max(initial=0) > np.iinfo("int64").max // len(uniques):
            raise ValueError(f"too many distinct keys to combine at column {column!r}")
        combined = combined * len(uniques) + codes
        levels.append(uniques)
    distinct, row = np.unique(combined, return_inverse=True)
    columns = {}
    for column, uniques in zip(reversed(keys.columns), reversed(levels), strict=True):
        columns[column] = np.asarray(uniques)[distinct % len(uniques)]
        distinct = distinct // len(uniques)
    return row.astype("int64"), pd.DataFrame({c: columns[c] for c in keys.columns})


def to_wide(panel: pd.DataFrame) -> WidePanel:
    """Pivot a long panel (complete weekly grid per series, the ``model_panel`` contract) to matrices."""
    missing = [c for c in [*SERIES_KEYS, WEEK, UNITS, *REQUIRED_EXOG] if c not in panel.columns]
    if missing:
        raise ValueError(f"model panel lacks columns {missing}")
    if panel.empty:
        raise ValueError(
            "model panel is empty: no series to compute features for (no sales loaded, or no series with "
            "preprocessing.min_weeks_history weeks of sales yet)"
        )
    week = pd.to_datetime(panel[WEEK]).astype("datetime64[ns]")
    first, last = week.min(), week.max()
    offsets = (week - first) // pd.Timedelta(days=7)
    if not ((first + offsets * pd.Timedelta(days=7)) == week).all():
        raise ValueError("model panel weeks must all fall on the same weekday (7 days apart)")
    weeks = pd.date_range(first, last, freq="7D")

    # a categorical of text keeps its codes: factorize_keys sorts by its categories, and they are the text sorted
    row, series = factorize_keys(pd.DataFrame({key: as_text(panel[key]) for key in SERIES_KEYS}))
    col = offsets.to_numpy(dtype="int64")
    n_rows, n_cols = len(series), len(weeks)

    def matrix(values: pd.Series, dtype: str = "float64") -> np.ndarray:
        out = np.full((n_rows, n_cols), np.nan, dtype=dtype)
        out[row, col] = values.to_numpy(dtype=dtype, na_value=np.nan)
        return out

    in_span = np.zeros((n_rows, n_cols), dtype=bool)
    in_span[row, col] = True
    # two rows in one cell mark it once (a hashed `duplicated` of the cells took 0.7 s at 20 times dunnhumby)
    if int(np.count_nonzero(in_span)) != len(row):
        raise ValueError("model panel has duplicate (store_code, product_code, week_end_date) rows")
    exog = {}
    for c in EXOG_COLUMNS:
        values = panel[c].astype("float64") if c in panel.columns else pd.Series(np.nan, index=panel.index)
        if c == PROMOTION and c not in panel.columns:
            values = pd.Series(0.0, index=panel.index)  # a panel without the flag: never promoted by it
        exog[c] = matrix(values, EXOG_DTYPES[c])
    outage = np.zeros((n_rows, n_cols), dtype=bool)
    if "is_outage" in panel.columns:
        outage[row, col] = panel["is_outage"].fillna(False).to_numpy(dtype=bool)
    attributes = [c for c in [SOURCE, MEASURE, *STORE_ATTRIBUTES, *PRODUCT_ATTRIBUTES] if c in panel.columns]
    if attributes:
        first_rows = pd.DataFrame({"row": row}).join(panel[attributes].reset_index(drop=True))
        per_series = _decategorized(first_rows.groupby("row", sort=True).last())
        series = series.join(per_series.reset_index(drop=True))
    return WidePanel(
        series=series,
        weeks=weeks,
        units=matrix(panel[UNITS]),
        exog=exog,
        in_span=_fill_span(in_span),
        outage=outage,
    )


def _decategorized(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-series table with categorical columns as plain values (one row per series: nothing to save)."""
    for column in frame.columns:
        if is_categorical(frame[column]):
            frame[column] = frame[column].astype(frame[column].cat.categories.dtype)
    return frame


def carry_over(units: np.ndarray, outage: np.ndarray, start: int = 0) -> np.ndarray:
    """``units[:, start:]`` with each outage cell set to its series' last value before it (a copy; NaN if none).

    The columns before ``start`` are read only for the series with outage cells before their first known
    value from ``start`` on: the value carried into them (a forecast window carries over its own weeks, not
    the whole history before them)."""
    window, window_outage = units[:, start:], outage[:, start:]
    if not window_outage.any():
        return window
    known = ~np.isnan(window) & ~window_outage
    last = np.where(known, np.arange(window.shape[1])[None, :], -1)
    np.maximum.accumulate(last, axis=1, out=last)
    carried = np.take_along_axis(window, np.maximum(last, 0), axis=1)
    out = window.copy()
    fill = window_outage & (last >= 0)
    out[fill] = carried[fill]
    early = window_outage & (last < 0)
    rows = np.flatnonzero(early.any(axis=1)) if start > 0 else np.empty(0, dtype="int64")
    if len(rows):
        before = units[rows, :start]
        before_known = ~np.isnan(before) & ~outage[rows, :start]
        last_before = start - 1 - np.argmax(before_known[:, ::-1], axis=1)
        value = before[np.arange(len(rows)), last_before]
        into = early[rows] & before_known.any(axis=1)[:, None]
        out[rows] = np.where(into, value[:, None], out[rows])
    return out


def _fill_span(observed: np.ndarray) -> np.ndarray:
    """True from each row's first to its last True cell."""
    seen = np.maximum.accumulate(observed, axis=1)
    seen_back = np.maximum.accumulate(observed[:, ::-1], axis=1)[:, ::-1]
    return seen & seen_back


def shift(a: np.ndarray, k: int) -> np.ndarray:
    """``out[:, t] = a[:, t - k]`` (NaN where t - k < 0)."""
    out = np.full_like(a, np.nan, dtype="float64")
    if k < a.shape[1]:
        out[:, k:] = a[:, : a.shape[1] - k]
    return out


def rolling_mean(a: np.ndarray, window: int, lag: int = 1, min_periods: int = 1) -> np.ndarray:
    """NaN-aware mean of ``a[:, t-lag-window+1 .. t-lag]`` for every column t (vectorised cumsums)."""
    s, c = _windowed_sums(a, window, lag)
    out = np.full(s.shape, np.nan)
    return np.divide(s, c, out=out, where=c >= max(min_periods, 1))


def rolling_std(a: np.ndarray, window: int, lag: int = 1, min_periods: int = 2) -> np.ndarray:
    s, c = _windowed_sums(a, window, lag)
    s2, _ = _windowed_sums(a * a, window, lag)
    return _std(s, s2, c, min_periods)


def column(a: np.ndarray, t: int) -> np.ndarray:
    """``a[:, t]`` (NaN where t < 0): ``shift(a, k)[:, t]`` is ``column(a, t - k)``."""
    if t < 0:
        return np.full(a.shape[0], np.nan)
    return a[:, t].astype("float64")


def window_mean(a: np.ndarray, t: int, window: int) -> np.ndarray:
    """NaN-aware mean of ``a[:, t-window .. t-1]``: ``rolling_mean(a, window)[:, t]`` for one column t."""
    return row_mean(_block(a, t, window))


def row_mean(block: np.ndarray) -> np.ndarray:
    """NaN-aware mean of each row of ``block`` (NaN for a row without a value)."""
    s, c = _column_sums(block)
    return np.where(c >= 1, s / np.maximum(c, 1), np.nan)


def window_std(a: np.ndarray, t: int, window: int, min_periods: int = 2) -> np.ndarray:
    """``rolling_std(a, window)[:, t]`` for one column t (same formula)."""
    block = _block(a, t, window)
    s, c = _column_sums(block)
    s2, _ = _column_sums(block * block)
    return _std(s, s2, c, min_periods)


def _block(a: np.ndarray, t: int, window: int) -> np.ndarray:
    return a[:, max(t - window, 0) : max(t, 0)]


def _column_sums(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    valid = ~np.isnan(block)
    return np.where(valid, block, 0.0).sum(axis=1), valid.sum(axis=1, dtype="float64")


def _std(s: np.ndarray, s2: np.ndarray, c: np.ndarray, min_periods: int) -> np.ndarray:
    mean = s / np.maximum(c, 1)
    mean_square = s2 / np.maximum(c, 1)
    var = np.maximum(mean_square - mean * mean, 0.0)
    # equal values (a carried-over outage) leave a rounding residue of the running sums, not a spread
    var = np.where(var <= 1e-9 * mean_square, 0.0, var) * c / np.maximum(c - 1, 1)
    return np.where(c >= min_periods, np.sqrt(var), np.nan)


def _windowed_sums(a: np.ndarray, window: int, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums and counts of the non-NaN values of ``a[:, t-lag-window+1 .. t-lag]`` for every column t."""
    valid = ~np.isnan(a)
    return (
        _window_differences(_cumulative(np.where(valid, a, 0.0)), window, lag),
        _window_differences(_cumulative(valid), window, lag),
    )


def _cumulative(values: np.ndarray) -> np.ndarray:
    """Running sums along each row, with a column of zeros first: ``out[:, j]`` is the sum of columns < j."""
    out = np.empty((values.shape[0], values.shape[1] + 1))
    out[:, 0] = 0.0
    np.cumsum(values, axis=1, dtype="float64", out=out[:, 1:])
    return out


def _window_differences(running: np.ndarray, window: int, lag: int) -> np.ndarray:
    """``running[:, hi(t)] - running[:, lo(t)]`` with hi(t) = t - lag + 1 and lo(t) = t - lag - window + 1, both
    clipped to the columns: three column ranges of slices (a column gather for each bound took 5.3 s against
    1.9 s for five windows over a 78,000 x 165 matrix). Where lo(t) <= 0, running[:, 0] is 0 and the difference is
    running[:, hi(t)] itself."""
    if lag < 0:
        raise ValueError(f"lag must be at least 0, got {lag}")
    n = running.shape[1] - 1
    out = np.empty((running.shape[0], n))
    before = min(lag, n)  # hi(t) <= 0: nothing in the window yet
    out[:, :before] = 0.0
    partial = min(lag + window, n)  # lo(t) <= 0: the window reaches back to the first column
    out[:, before:partial] = running[:, before - lag + 1 : partial - lag + 1]
    np.subtract(
        running[:, partial - lag + 1 : n - lag + 1],
        running[:, partial - lag - window + 1 : n - lag - window + 1],
        out=out[:, partial:],
    )
    return out


def group_mean(a: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per column, the NaN-aware mean of ``a`` over the rows of each group, broadcast back to the rows."""
    sums, counts = _group_sums(a, groups)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)[groups]


def group_sum(a: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per column, the sum of ``a`` over the rows of each group (NaN if no row has a value)."""
    sums, counts = _group_sums(a, groups)
    return np.where(counts > 0, sums, np.nan)[groups]


def _group_sums(a: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums and counts of the non-NaN values per group and column (one sparse matrix product each)."""
    from scipy import sparse  # noqa: PLC0415 - about 0.1 s of every `kedro` start-up; used by features only

    n_groups = int(groups.max()) + 1 if len(groups) else 0
    indicator = sparse.csr_matrix(
        (np.ones(len(groups)), (groups, np.arange(len(groups)))), shape=(n_groups, len(groups))
    )
    valid = ~np.isnan(a)
    return indicator @ np.where(valid, a, 0.0), indicator @ valid.astype("float64")
