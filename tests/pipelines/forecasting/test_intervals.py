"""P10-P90 intervals calibrated on backtest errors."""

import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.forecasting import intervals


def _cells(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    forecast = rng.gamma(2.0, 10.0, n)
    horizon = rng.integers(1, 5, n)
    actual = rng.poisson(forecast * np.exp(rng.normal(0, 0.1 * horizon)))
    return pd.DataFrame({"forecast": forecast, "actual": actual, "horizon": horizon})


def test_calibrated_intervals_cover_about_80_percent_of_new_cells():
    calibration = intervals.calibrate(_cells(seed=0))
    fresh = _cells(seed=1)
    p10, p90 = intervals.apply(fresh["forecast"], fresh["horizon"], calibration)
    cover = intervals.coverage(fresh["actual"].to_numpy(), p10, p90)
    assert 0.76 <= cover <= 0.84
    assert (p10 <= fresh["forecast"]).all() and (fresh["forecast"] <= p90).all() and (p10 >= 0).all()
    width = lambda h: np.median((p90 - p10)[fresh["horizon"] == h] / fresh["forecast"][fresh["horizon"] == h])  # noqa: E731
    assert width(4) > width(1)  # errors grow with the horizon, so do the intervals


def test_horizons_beyond_the_backtest_take_the_largest_calibrated_one():
    calibration = intervals.calibrate(_cells())
    p10_4, p90_4 = intervals.apply(np.array([20.0]), np.array([4]), calibration)
    p10_8, p90_8 = intervals.apply(np.array([20.0]), np.array([8]), calibration)
    assert (p10_4, p90_4) == (p10_8, p90_8)


def test_without_calibration_the_interval_is_the_point_and_bad_quantiles_are_refused():
    p10, p90 = intervals.apply(np.array([3.0]), np.array([1]), {})
    assert p10[0] == p90[0] == 3.0
    with pytest.raises(ValueError, match="quantiles"):
        intervals.calibrate(_cells(), lower=0.6, upper=0.9)


def test_level_correction_removes_a_steady_bias_and_the_interval_is_around_the_corrected_forecast():
    cells = _cells(seed=2)
    overforecast = cells.assign(forecast=cells["forecast"] * 1.1)
    calibration = intervals.calibrate(overforecast)
    assert calibration["scale"] == pytest.approx(
        cells["actual"].sum() / overforecast["forecast"].sum(), rel=0.01
    )
    fresh = _cells(seed=3)
    corrected = intervals.correct(fresh["forecast"] * 1.1, calibration)
    bias = (corrected - fresh["actual"]).sum() / fresh["actual"].sum()
    raw_bias = (fresh["forecast"] * 1.1 - fresh["actual"]).sum() / fresh["actual"].sum()
    assert abs(bias) < 0.02 < raw_bias
    p10, p90 = intervals.apply(corrected, fresh["horizon"], calibration)
    assert 0.76 <= intervals.coverage(fresh["actual"].to_numpy(), p10, p90) <= 0.84


def test_level_scale_is_clipped_shrunk_on_small_totals_and_one_without_cells():
    assert intervals.level_scale(np.array([1000.0]), np.array([100.0])) == intervals.MAX_SCALE
    assert intervals.level_scale(np.array([1e4]), np.array([1e5])) == intervals.MIN_SCALE
    small = intervals.level_scale(np.array([10.0]), np.array([11.0]))
    assert 10 / 11 < small < 1.0  # 10 units: mostly the prior (1)
    assert intervals.level_scale(np.array([]), np.array([])) == 1.0
    np.testing.assert_array_equal(intervals.correct(np.array([2.0, -1.0]), {}), [2.0, 0.0])


def test_a_bias_every_origin_shows_is_corrected_one_that_flips_is_left_alone():
    origins = np.repeat(np.arange(6), 50)
    forecast = np.full(len(origins), 100.0)
    steady = np.full(len(origins), 110.0)  # every origin 10% under: corrected beyond the tolerance
    beyond = np.exp(np.log(1.1) - intervals.LEVEL_TOLERANCE)
    assert intervals.origin_level_scale(
        steady * np.linspace(0.99, 1.01, len(origins)), forecast, origins
    ) == (pytest.approx(beyond, rel=0.01))
    over = np.full(len(origins), 80.0)  # every origin 25% over: corrected down, beyond the tolerance
    assert intervals.origin_level_scale(over, forecast, origins) == pytest.approx(
        np.exp(np.log(0.8) + intervals.LEVEL_TOLERANCE)
    )
    slight = np.full(len(origins), 103.0)  # every origin 3% under: within the tolerance, left alone
    assert intervals.origin_level_scale(slight, forecast, origins) == 1.0
    flipping = np.where(origins % 2 == 0, 112.0, 89.0)  # +12%, -11%: no steady bias
    assert abs(intervals.origin_level_scale(flipping, forecast, origins) - 1.0) < 0.01
    # free of the measure's scale: sales value in euros gives the same factor as units
    assert intervals.origin_level_scale(steady * 1000, forecast * 1000, origins) == pytest.approx(
        intervals.origin_level_scale(steady, forecast, origins)
    )
