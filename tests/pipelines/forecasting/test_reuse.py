"""Reuse of backtest cells and trained models when their inputs have not changed."""

import numpy as np
import pandas as pd
import pytest
from support.forecast_panels import feature_set, promo_panel

from sellout.config.model_parameters import ForecastingParams
from sellout.datasets import MemoDataset
from sellout.pipelines.forecasting import nodes, reuse, training

FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4], "exclude": []}
PARAMS = {
    "backtest": {"origins": 2, "horizon": 2},
    "lightgbm": {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "num_threads": 1},
}
RUN = {"run_id": "run-1", "mode": "incremental", "dry_run": False, "env": "test", "started_at": "x"}


def test_result_keys_follow_the_feature_set_and_the_parameters():
    panel = promo_panel(30)
    features = feature_set(panel, FEATURES)
    params = ForecastingParams.of(PARAMS)
    key = reuse.result_key("backtest_cells", features, params)
    assert reuse.result_key("backtest_cells", feature_set(panel.copy(), FEATURES), params) == key
    assert reuse.result_key("forecast_model", features, params) != key
    assert reuse.result_key("backtest_cells", features, ForecastingParams.of({**PARAMS, "horizon": 3})) != key
    other_features = feature_set(panel, {**FEATURES, "lags": [1, 2]})
    assert reuse.result_key("backtest_cells", other_features, params) != key


def test_the_history_digest_covers_the_weeks_up_to_a_week_only():
    panel = promo_panel(30)
    earlier = feature_set(panel[panel["week_end_date"] <= panel["week_end_date"].iloc[19]], FEATURES).panel
    later = feature_set(panel, FEATURES).panel
    assert reuse.history_digest(earlier, 19) == reuse.history_digest(later, 19)
    assert reuse.history_digest(later, 19) != reuse.history_digest(later, 20)
    corrected = panel.copy()
    corrected.loc[corrected.index[3], "units"] += 1
    assert reuse.history_digest(feature_set(corrected, FEATURES).panel, 19) != reuse.history_digest(later, 19)


def test_an_unchanged_panel_reuses_the_backtest_and_the_model(tmp_path, monkeypatch):
    panel = promo_panel(64, stores=("S1", "S2"))
    memo = {name: MemoDataset(tmp_path / name) for name in ("cells", "models", "full_fits")}

    def backtest(frame, run):
        metrics, _, cells, _, to_store = nodes.backtest_forecast(
            feature_set(frame, FEATURES), {}, None, memo["cells"].load(), run, PARAMS
        )
        memo["cells"].save(to_store)
        return metrics, cells, to_store

    def train(frame):
        model, models, full_fits = nodes.train_forecast_model(
            feature_set(frame, FEATURES), {}, memo["models"].load(), memo["full_fits"].load(), PARAMS
        )
        memo["models"].save(models)
        memo["full_fits"].save(full_fits)
        return model, models

    metrics, _, stored_cells = backtest(panel, RUN)
    model, stored_models = train(panel)
    assert stored_cells and stored_models

    def no_fitting(*args, **kwargs):
        raise AssertionError("fitted again although nothing changed")

    monkeypatch.setattr(nodes, "run_backtest", no_fitting)
    monkeypatch.setattr(training.TrainingSet, "fit", no_fitting)
    again_metrics, again_cells, nothing_new = backtest(panel, {**RUN, "run_id": "run-2"})
    again_model, no_new_model = train(panel)
    assert nothing_new == {} and no_new_model == {}
    pd.testing.assert_frame_equal(again_metrics.drop(columns="run_id"), metrics.drop(columns="run_id"))
    assert (again_cells["run_id"] == "run-2").all()
    (fitted,), (read_back,) = model.models.values(), again_model.models.values()
    x = np.zeros((1, len(fitted.features)), dtype="float32")
    assert read_back.predict_matrix(x) == pytest.approx(fitted.predict_matrix(x))

    changed = panel.copy()
    changed.loc[changed.index[-1], "units"] += 1
    with pytest.raises(AssertionError, match="fitted again"):
        backtest(changed, RUN)


def test_an_unreadable_stored_result_is_computed_again(tmp_path):
    panel = promo_panel(64, stores=("S1", "S2"))
    models = MemoDataset(tmp_path)
    features = feature_set(panel, FEATURES)
    model, to_store, _ = nodes.train_forecast_model(features, {}, {}, {}, PARAMS)
    models.save(to_store)
    (entry,) = tmp_path.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    again, stored_again, _ = nodes.train_forecast_model(features, {}, models.load(), {}, PARAMS)
    assert list(stored_again) == list(to_store) and again.model_version == model.model_version
