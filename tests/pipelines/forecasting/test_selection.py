"""The choice of each source's settings on a validation window before the backtest's."""

import numpy as np
import pytest
from support.forecast_panels import feature_set, promo_panel

from sellout.config.model_parameters import ForecastingParams, LightGBMParams
from sellout.pipelines.forecasting import selection
from sellout.pipelines.forecasting.backtest import origin_columns
from sellout.pipelines.forecasting.training import TrainingSet

FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4], "exclude": []}
LGBM = {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 5, "num_threads": 1, "learning_rate": 0.1}
CANDIDATES = [{"name": "scaled_tweedie"}, {"name": "raw_tweedie", "scale_target": False}]


def params(**selection_params) -> ForecastingParams:
    return ForecastingParams.of(
        {
            "lightgbm": LGBM,
            "backtest": {"origins": 4, "horizon": 2},
            "selection": {"candidates": CANDIDATES, "min_training_rows": 50, **selection_params},
        }
    )


@pytest.fixture(scope="module")
def features():
    return feature_set(promo_panel(80, stores=("S1", "S2", "S3")), FEATURES)


def test_the_validation_targets_end_at_the_backtest_s_first_origin():
    assert selection.validation_origins(30, 4, 3) == [24, 25, 26]
    assert selection.validation_origins(3, 4, 3) == []  # nothing before the backtest to validate on
    assert selection.validation_origins(6, 4, 3) == [1, 2]


def test_an_even_sample_spreads_over_the_series():
    rows = np.arange(100, 200)
    assert selection.even_sample(rows, None) is rows
    sample = selection.even_sample(rows, 5)
    assert sample.tolist() == [100, 125, 150, 174, 199]


def test_a_validation_fit_keeps_the_learning_rate_times_the_rounds():
    lightgbm = LightGBMParams.of({"n_estimators": 300, "learning_rate": 0.05})
    fast = selection._validation_lightgbm(lightgbm, 100)
    assert (fast.n_estimators, fast.learning_rate) == (100, pytest.approx(0.15))
    assert selection._validation_lightgbm(lightgbm, None) is lightgbm
    assert selection._validation_lightgbm(lightgbm, 500) is lightgbm  # never more rounds than the model's


def test_every_candidate_is_scored_on_windows_before_the_backtest(features, monkeypatch):
    fitted: list[tuple[int, int]] = []
    real_fit = TrainingSet.fit

    def recording_fit(self, until_col, lightgbm, *args, **kwargs):
        fitted.append((until_col, LightGBMParams.of(lightgbm).n_estimators))
        return real_fit(self, until_col, lightgbm, *args, **kwargs)

    monkeypatch.setattr(TrainingSet, "fit", recording_fit)
    p = params(rounds=20, validation_origins=2)
    chosen = selection.choose_settings(features, p)
    record = chosen["default"]
    first_origin = origin_columns(features.panel, 4)[0]
    assert set(record["validation_wape"]) == {"scaled_tweedie", "raw_tweedie"}
    assert all(0 < wape < 1 for wape in record["validation_wape"].values())
    assert record["validation_weeks"][1] == str(features.panel.weeks[first_origin].date())
    # each candidate fitted once, at the first validation origin, with the validation's rounds
    assert fitted == [(first_origin - 2 - 1, 20)] * 2
    scores = record["validation_wape"]
    if scores["raw_tweedie"] < scores["scaled_tweedie"] * (1 - p.selection.min_gain):
        assert record["candidate"] == "raw_tweedie"
    else:
        assert record["candidate"] == "scaled_tweedie"


def test_the_default_is_kept_unless_another_candidate_beats_it_by_min_gain(features):
    chosen = selection.choose_settings(features, params(min_gain=0.99))["default"]
    assert chosen["candidate"] == "scaled_tweedie"
    assert "no candidate beats scaled_tweedie by more than 99%" in chosen["reason"]
    keen = selection.choose_settings(features, params(min_gain=0.0))["default"]
    assert keen["candidate"] == min(keen["validation_wape"], key=keen["validation_wape"].get)


def test_a_short_history_keeps_the_default(features):
    chosen = selection.choose_settings(features, params(min_training_rows=10**6))["default"]
    assert chosen["candidate"] == "scaled_tweedie"
    assert chosen["validation_wape"] == {}
    assert "fewer than 1000000 training rows" in chosen["reason"]


def test_a_sampled_source_is_validated_on_the_series_its_model_is_fitted_on(features):
    sampled = feature_set(promo_panel(80, stores=("S1", "S2", "S3")), {**FEATURES, "max_training_cells": 200})
    fitted = int(sampled.trained.sum())
    assert 0 < fitted < sampled.panel.n_series
    record = selection.choose_settings(sampled, params(min_training_rows=10))["default"]
    assert record["series"] == fitted
    assert selection.choose_settings(features, params())["default"]["series"] == features.panel.n_series


def test_candidates_fitted_side_by_side_score_as_one_at_a_time(features):
    one_at_a_time = selection.choose_settings(features, params(min_gain=0.0))
    side_by_side = selection.choose_settings(
        features, ForecastingParams.of({**params(min_gain=0.0).model_dump(), "parallel_fits": 2})
    )
    assert side_by_side == one_at_a_time
