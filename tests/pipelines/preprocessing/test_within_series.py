"""Look-backs and fills within each series equal pandas' group-by on the same rows."""

import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.preprocessing.within_series import fill_within, rolling_max, series_bounds


def _rows(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Series of 1-40 rows each, in series order, with values NaN in about a third of the rows (some series
    all NaN)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 40, size=60)
    series = np.repeat(np.arange(len(lengths)), lengths)
    values = rng.gamma(2.0, 3.0, size=len(series)).round(2)
    values[rng.random(len(series)) < 0.35] = np.nan
    values[series == 7] = np.nan
    return series, values


def test_series_bounds_are_each_row_s_series_first_and_last_rows():
    first, last = series_bounds(np.array([0, 0, 0, 3, 5, 5]))
    assert first.tolist() == [0, 0, 0, 3, 4, 4]
    assert last.tolist() == [2, 2, 2, 3, 5, 5]
    empty = series_bounds(np.array([], dtype="int64"))
    assert [len(a) for a in empty] == [0, 0]
    with pytest.raises(ValueError, match="series order"):
        series_bounds(np.array([0, 1, 0]))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("window", [1, 2, 13, 60])
def test_rolling_max_equals_pandas_group_rolling_max(seed, window):
    series, values = _rows(seed)
    first, _ = series_bounds(series)
    expected = (
        pd.Series(values).groupby(series).rolling(window, min_periods=1).max().reset_index(level=0, drop=True)
    )
    np.testing.assert_array_equal(rolling_max(values, first, window), expected.sort_index().to_numpy())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fill_within_equals_pandas_forward_then_backward_fill(seed):
    series, values = _rows(seed)
    first, last = series_bounds(series)
    forward = pd.Series(values).groupby(series).ffill()
    expected = forward.groupby(series).bfill().to_numpy()
    filled = fill_within(values, first, last)
    np.testing.assert_array_equal(filled, expected)
    # empty exactly in the series that have no value at all (series 7 among them)
    has_value = pd.Series(~np.isnan(values)).groupby(series).transform("any").to_numpy()
    np.testing.assert_array_equal(np.isnan(filled), ~has_value)
    assert not has_value[series == 7].any() and np.isnan(values).any()
