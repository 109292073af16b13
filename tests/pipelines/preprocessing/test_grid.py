"""The panel's grid: series in key order, every week of each span, and each observation in its own cell."""

import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.preprocessing.grid import panel_grid
from sellout.pipelines.preprocessing.outages import outage_weeks

W = pd.date_range("2024-01-07", periods=6, freq="7D")


def _obs(rows):
    return pd.DataFrame(rows, columns=["store_code", "product_code", "week_end_date", "units"]).astype(
        {"store_code": "str", "product_code": "str", "week_end_date": "datetime64[ns]"}
    )


def test_series_are_numbered_in_key_order_and_observations_land_in_their_cells():
    obs = _obs(
        [("S2", "P1", W[1], 3.0), ("S1", "P2", W[0], 1.0), ("S1", "P2", W[3], 2.0), ("S1", "P1", W[2], 9.0)]
    )
    grid = panel_grid(obs, min_weeks_history=1)
    assert grid.keys.values.tolist() == [["S1", "P1"], ["S1", "P2"], ["S2", "P1"]]
    assert grid.series.tolist() == [0, 1, 1, 1, 1, 2]  # S1|P2 spans weeks 0-3, the others one week
    assert list(grid.dates()) == [W[2], W[0], W[1], W[2], W[3], W[1]]
    units = grid.place(obs["units"], np.nan, "float64")
    np.testing.assert_array_equal(units, [9.0, 1.0, np.nan, np.nan, 2.0, 3.0])
    assert grid.is_filled.tolist() == [False, False, True, True, False, False]


def test_short_series_leave_the_grid_but_keep_their_store_deliveries():
    obs = _obs([("S1", "P1", W[0], 1.0), ("S1", "P1", W[2], 1.0), ("S1", "P9", W[1], 5.0)])
    grid = panel_grid(obs, min_weeks_history=2)
    assert grid.keys.values.tolist() == [["S1", "P1"]] and len(grid) == 3
    # the short series' row still counts as the store delivering in week 1: no outage there
    outages = outage_weeks(grid.store_of_obs, grid.obs_week, grid.n_stores, grid.n_weeks)
    assert not outages.any()


def test_two_rows_of_one_series_week_are_refused_with_an_example():
    obs = _obs([("S1", "P1", W[0], 1.0), ("S1", "P1", W[0], 2.0)])
    with pytest.raises(ValueError, match=r"1 duplicate series-weeks, e.g. .*'S1'.*'P1'"):
        panel_grid(obs, min_weeks_history=1)


def test_only_a_repeated_series_week_is_refused_whichever_series_it_is_in():
    rows = [
        ("S1", "P1", W[0], 1.0),
        ("S1", "P2", W[0], 1.0),
        ("S2", "P1", W[0], 1.0),
        ("S2", "P1", W[3], 1.0),
    ]
    assert len(panel_grid(_obs(rows), min_weeks_history=1)) == 6  # one week in two series: no duplicate
    repeated = [*rows, ("S2", "P1", W[3], 4.0), ("S9", "P9", W[5], 1.0), ("S9", "P9", W[5], 1.0)]
    with pytest.raises(ValueError, match=r"2 duplicate series-weeks, e.g. .*'S2'.*'P1'"):
        panel_grid(_obs(repeated), min_weeks_history=5)  # S9|P9 is too short to keep: still refused


def test_a_store_week_without_rows_between_deliveries_is_an_outage():
    store_no = np.array([0, 0, 1, 1])
    week_no = np.array([0, 3, 1, 2])
    outages = outage_weeks(store_no, week_no, n_stores=2, n_weeks=5)
    assert outages.tolist() == [[False, True, True, False, False], [False] * 5]
