"""A source larger than a fit needs is fitted on a stable sample of its series, and still forecast whole."""

import numpy as np
import pytest
from support.forecast_panels import feature_set, promo_panel, source_trainings

from sellout.pipelines.forecasting.model import recursive_forecast
from sellout.pipelines.forecasting.sampling import training_series

FEATURES = {"lags": [1, 2], "rolling_windows": [4, 13], "rolling_std_windows": [], "exclude": []}
STORES = tuple(f"S{i:02d}" for i in range(12))
PRODUCTS = ("P1", "P2", "P3")
LGBM = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "num_threads": 1}


@pytest.fixture(scope="module")
def features():
    return feature_set(promo_panel(40, stores=STORES, products=PRODUCTS), FEATURES)


def _cells(features, rows):
    return int(np.isin(features.rows, rows).sum())


def test_a_source_within_the_cap_is_fitted_on_every_series(features):
    rows = np.arange(features.panel.n_series)
    assert np.array_equal(training_series(features, rows, None), rows)
    assert np.array_equal(training_series(features, rows, len(features)), rows)


def test_a_larger_source_is_fitted_on_series_holding_at_most_the_cap(features):
    rows = np.arange(features.panel.n_series)
    cap = len(features) // 3
    sample = training_series(features, rows, cap)
    assert 0 < len(sample) < len(rows)
    assert _cells(features, sample) <= cap
    assert np.array_equal(sample, np.sort(sample)) and set(sample) <= set(rows)
    # the sample is as large as the cap allows: one more series (the next by hash) would pass it
    assert _cells(features, sample) > cap - 40
    # a cap below one series' cells still fits one series
    assert len(training_series(features, rows, 1)) == 1


def test_the_sample_depends_on_the_series_keys_not_their_row_numbers(features):
    """A new store shifts the rows of the series after it; a week more moves the cut by a series or two: the
    sample stays the same series."""
    rows = np.arange(features.panel.n_series)
    cap = len(features) // 2
    keys = features.panel.series[["store_code", "product_code"]]
    chosen = set(map(tuple, keys.iloc[training_series(features, rows, cap)].to_numpy()))

    grown = feature_set(promo_panel(40, stores=("S00a", *STORES), products=PRODUCTS), FEATURES)
    grown_keys = grown.panel.series[["store_code", "product_code"]]
    in_grown = set(
        map(tuple, grown_keys.iloc[training_series(grown, np.arange(grown.panel.n_series), cap)].to_numpy())
    )
    assert len(chosen & in_grown) >= len(chosen) - 2

    longer = feature_set(promo_panel(41, stores=STORES, products=PRODUCTS), FEATURES)
    longer_keys = longer.panel.series[["store_code", "product_code"]]
    in_longer = set(map(tuple, longer_keys.iloc[training_series(longer, rows, cap)].to_numpy()))
    assert in_longer <= chosen and len(in_longer) >= len(chosen) - 1


def test_a_sampled_model_forecasts_every_series_of_its_source(features):
    cap = len(features) // 4
    whole = source_trainings(features, {"lightgbm": LGBM, "max_training_cells": None})
    sampled = source_trainings(features, {"lightgbm": LGBM, "max_training_cells": cap})
    last = len(features.panel.weeks) - 3  # two weeks after it to forecast
    assert sampled.fit_rows(last) <= cap < whole.fit_rows(last)
    assert whole.model_version() != sampled.model_version()
    model = sampled.fit(last)
    rows = np.arange(features.panel.n_series)
    forecast = recursive_forecast(model, features.panel, last, 2, rows)
    assert forecast.shape == (len(rows), 2) and np.isfinite(forecast).all() and (forecast > 0).all()
