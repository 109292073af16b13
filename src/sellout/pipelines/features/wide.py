"""The model panel as dense (series x week) matrices, the layout every feature is computed on.

A series is one (store_code, product_code) pair; ``units`` is NaN outside the series' span (before its first or
after its last week), so "not yet listed / delisted" and "listed, nothing sold" (0) stay distinct. Matrices
make each feature one vectorised array operation over all series at once, and make the recursive forecast
cheap: a step overwrites one column of ``units`` and recomputes the features of the next column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

SERIES_KEYS = ["store_code", "product_code"]
WEEK = "week_end_date"
TARGET = "units"
PROMO_FLAGS = ["feature", "display", "tpr_only"]
PRICE_COLUMNS = ["price", "base_price"]
EXOG_COLUMNS = [*PRICE_COLUMNS, *PROMO_FLAGS]
# Series attributes carried into the matrices' row table (categorical unless listed as numeric).
STORE_ATTRIBUTES = ["segment", "state", "sales_area"]
PRODUCT_ATTRIBUTES = ["category", "manufacturer", "sub_category"]
NUMERIC_ATTRIBUTES = ["sales_area"]


@dataclass
class WidePanel:
    """Series rows x week columns.

    ``series``: one row per series (keys and attributes), in matrix row order.
    ``weeks``: the week columns, consecutive, 7 days apart.
    ``units``: float64, NaN outside each series' span and in weeks still to forecast.
    ``exog``: price, base_price (float64) and promo flags (float64 0/1) per cell; NaN where unknown.
    ``in_span``: True from a series' first to its last panel week.
    """

    series: pd.DataFrame
    weeks: pd.DatetimeIndex
    units: np.ndarray
    exog: dict[str, np.ndarray]
    in_span: np.ndarray

    @property
    def n_series(self) -> int:
        return len(self.series)

    def week_index(self, week: pd.Timestamp) -> int:
        pos = self.weeks.get_indexer([pd.Timestamp(week)])[0]
        if pos < 0:
            raise KeyError(f"week {pd.Timestamp(week).date()} is not a column of the panel")
        return int(pos)

    def extended(self, n_weeks: int) -> WidePanel:
        """A copy with ``n_weeks`` more week columns (units NaN, exog NaN, not in span)."""
        if n_weeks <= 0:
            return self
        extra = pd.date_range(self.weeks[-1] + pd.Timedelta(days=7), periods=n_weeks, freq="7D")

        def pad(a: np.ndarray, fill) -> np.ndarray:
            return np.concatenate([a, np.full((a.shape[0], n_weeks), fill, dtype=a.dtype)], axis=1)

        return WidePanel(
            series=self.series,
            weeks=self.weeks.append(extra),
            units=pad(self.units, np.nan),
            exog={k: pad(v, np.nan) for k, v in self.exog.items()},
            in_span=pad(self.in_span, False),
        )


def to_wide(panel: pd.DataFrame) -> WidePanel:
    """Pivot a long panel (complete weekly grid per series, the ``model_panel`` contract) to matrices."""
    missing = [c for c in [*SERIES_KEYS, WEEK, TARGET, *EXOG_COLUMNS] if c not in panel.columns]
    if missing:
        raise ValueError(f"model panel lacks columns {missing}")
    if panel.empty:
        raise ValueError("model panel is empty: no series to compute features for")
    week = pd.to_datetime(panel[WEEK]).astype("datetime64[ns]")
    first, last = week.min(), week.max()
    offsets = (week - first) // pd.Timedelta(days=7)
    if not ((first + offsets * pd.Timedelta(days=7)) == week).all():
        raise ValueError("model panel weeks must all fall on the same weekday (7 days apart)")
    weeks = pd.date_range(first, last, freq="7D")

    keys = panel[SERIES_KEYS].astype("str")
    codes, uniques = pd.MultiIndex.from_frame(keys).factorize(sort=True)
    row = np.asarray(codes, dtype="int64")
    col = offsets.to_numpy(dtype="int64")
    n_rows, n_cols = len(uniques), len(weeks)
    if pd.Series(row * n_cols + col).duplicated().any():
        raise ValueError("model panel has duplicate (store_code, product_code, week_end_date) rows")

    def matrix(values: pd.Series) -> np.ndarray:
        out = np.full((n_rows, n_cols), np.nan)
        out[row, col] = values.to_numpy(dtype="float64", na_value=np.nan)
        return out

    in_span = np.zeros((n_rows, n_cols), dtype=bool)
    in_span[row, col] = True
    exog = {c: matrix(panel[c].astype("float64")) for c in EXOG_COLUMNS}
    series = pd.DataFrame(list(uniques), columns=SERIES_KEYS)
    attributes = [c for c in [*STORE_ATTRIBUTES, *PRODUCT_ATTRIBUTES] if c in panel.columns]
    if attributes:
        first_rows = pd.DataFrame({"row": row}).join(panel[attributes].reset_index(drop=True))
        per_series = first_rows.groupby("row", sort=True).last()
        series = series.join(per_series.reset_index(drop=True))
    return WidePanel(
        series=series, weeks=weeks, units=matrix(panel[TARGET]), exog=exog, in_span=_fill_span(in_span)
    )


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
    return np.where(c >= min_periods, s / np.maximum(c, 1), np.nan)


def rolling_std(a: np.ndarray, window: int, lag: int = 1, min_periods: int = 2) -> np.ndarray:
    s, c = _windowed_sums(a, window, lag)
    s2, _ = _windowed_sums(a * a, window, lag)
    mean = s / np.maximum(c, 1)
    var = np.maximum(s2 / np.maximum(c, 1) - mean * mean, 0.0) * c / np.maximum(c - 1, 1)
    return np.where(c >= min_periods, np.sqrt(var), np.nan)


def _windowed_sums(a: np.ndarray, window: int, lag: int) -> tuple[np.ndarray, np.ndarray]:
    valid = ~np.isnan(a)
    zero = np.zeros((a.shape[0], 1))
    cs = np.concatenate([zero, np.cumsum(np.where(valid, a, 0.0), axis=1)], axis=1)
    cc = np.concatenate([zero, np.cumsum(valid, axis=1, dtype="float64")], axis=1)
    n = a.shape[1]
    t = np.arange(n)
    hi = np.clip(t - lag + 1, 0, n)  # exclusive end index into cs
    lo = np.clip(t - lag - window + 1, 0, n)
    return cs[:, hi] - cs[:, lo], cc[:, hi] - cc[:, lo]


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
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    indicator = sparse.csr_matrix(
        (np.ones(len(groups)), (groups, np.arange(len(groups)))), shape=(n_groups, len(groups))
    )
    valid = ~np.isnan(a)
    return indicator @ np.where(valid, a, 0.0), indicator @ valid.astype("float64")
