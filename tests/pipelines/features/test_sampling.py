"""A source larger than a fit needs is fitted on a stable sample of its series, and still forecast whole."""

from dataclasses import replace

import numpy as np
import pytest
from support.forecast_panels import feature_set, promo_panel, source_trainings

from sellout.pipelines.features.feature_set import training_cells
from sellout.pipelines.features.sampling import sampled_series
from sellout.pipelines.forecasting.model import recursive_forecast

FEATURES = {"lags": [1, 2], "rolling_windows": [4, 13], "rolling_std_windows": [], "exclude": []}
STORES = tuple(f"S{i:02d}" for i in range(12))
PRODUCTS = ("P1", "P2", "P3")
LGBM = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "num_threads": 1}


def _features(weeks=40, stores=STORES, cap=None):
    return feature_set(
        promo_panel(weeks, stores=stores, products=PRODUCTS), {**FEATURES, "max_training_cells": cap}
    )


@pytest.fixture(scope="module")
def whole():
    return _features()


def _sample_keys(features, cap):
    """The (store, product) keys of the series ``cap`` keeps of ``features``' panel."""
    panel = features.panel
    rows, _ = training_cells(panel, len(panel.weeks) - 1)
    kept = sampled_series(panel, rows, cap)
    return set(map(tuple, panel.series[["store_code", "product_code"]].to_numpy()[kept]))


def test_a_source_within_the_cap_keeps_every_series(whole):
    assert whole.trained.all()
    capped = _features(cap=len(whole))
    assert capped.trained.all() and len(capped) == len(whole)
    assert np.array_equal(capped.x, whole.x, equal_nan=True)


def test_a_larger_source_keeps_series_holding_at_most_the_cap(whole):
    cap = len(whole) // 3
    sampled = _features(cap=cap)
    assert 0 < sampled.trained.sum() < whole.panel.n_series
    assert len(sampled) <= cap
    # the cells kept are every cell of the kept series, with the same features as without a cap
    in_whole = sampled.trained[whole.rows]
    assert np.array_equal(sampled.rows, whole.rows[in_whole]) and np.array_equal(
        sampled.x, whole.x[in_whole], equal_nan=True
    )
    # as large as the cap allows: one more series (about 39 cells) would pass it
    assert len(sampled) > cap - 40
    # a cap below one series' cells still keeps one series
    assert _features(cap=1).trained.sum() == 1


def test_each_source_is_sampled_on_its_own(whole):
    sources = np.where(whole.panel.series["store_code"] < "S04", "small", "large")
    panel = replace(whole.panel, series=whole.panel.series.assign(source=sources))
    rows, _ = training_cells(panel, len(panel.weeks) - 1)
    cells_of_small = int(np.isin(rows, np.flatnonzero(sources == "small")).sum())
    kept = sampled_series(panel, rows, cells_of_small)
    assert kept[sources == "small"].all()  # within the cap: whole
    assert 0 < kept[sources == "large"].sum() < (sources == "large").sum()


def test_the_sample_depends_on_the_series_keys_not_their_row_numbers(whole):
    """A new store shifts the rows of the series after it; a week more moves the cut by a series or two: the
    sample stays the same series."""
    cap = len(whole) // 2
    chosen = _sample_keys(whole, cap)
    grown = _sample_keys(_features(stores=("S00a", *STORES)), cap)
    assert len(chosen & grown) >= len(chosen) - 2
    longer = _sample_keys(_features(weeks=41), cap)
    assert longer <= chosen and len(longer) >= len(chosen) - 1


def test_a_sampled_model_forecasts_every_series_of_its_source(whole):
    sampled = _features(cap=len(whole) // 4)
    trainings = source_trainings(sampled, {"lightgbm": LGBM})
    last = len(sampled.panel.weeks) - 3  # two weeks after it to forecast
    assert (
        trainings.fit_rows(last)
        <= len(whole) // 4
        < source_trainings(whole, {"lightgbm": LGBM}).fit_rows(last)
    )
    assert trainings.model_version() != source_trainings(whole, {"lightgbm": LGBM}).model_version()
    model = trainings.fit(last)
    rows = np.arange(sampled.panel.n_series)
    forecast = recursive_forecast(model, sampled.panel, last, 2, rows)
    assert forecast.shape == (len(rows), 2) and np.isfinite(forecast).all() and (forecast > 0).all()
