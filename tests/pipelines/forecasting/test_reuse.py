"""Reuse of backtest cells and trained models when their inputs have not changed."""

import numpy as np
import pandas as pd
import pytest
from support.forecast_panels import feature_set, promo_panel

from sellout.config.model_parameters import ForecastingParams
from sellout.datasets import MemoDataset
from sellout.pipelines.forecasting import backtest, nodes, reuse, training

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
    # how many fits run side by side changes how fast, not what: stored results are kept
    side_by_side = ForecastingParams.of({**PARAMS, "parallel_fits": 2})
    assert reuse.result_key("backtest_cells", features, side_by_side) == key
    assert reuse.schedule_key("full_fit", features, side_by_side) == reuse.schedule_key(
        "full_fit", features, params
    )


def _history(frame):
    panel = feature_set(frame, FEATURES).panel
    keys = panel.series["store_code"] + "|" + panel.series["product_code"]
    return pd.DataFrame(reuse.delivered_history(panel), index=keys)


def test_the_delivered_history_of_a_week_is_what_had_been_delivered_up_to_it():
    panel = promo_panel(30)
    weeks = sorted(panel["week_end_date"].unique())
    later = _history(panel)
    assert _history(panel[panel["week_end_date"] <= weeks[19]]).equals(later.iloc[:, :20])
    assert (later.diff(axis=1).iloc[:, 1:] != 0).all().all()  # every week delivered something
    corrected = panel.copy()
    hit = ((corrected["week_end_date"] == weeks[12]) & (corrected["store_code"] == "S2")).idxmax()
    corrected.loc[hit, "units"] += 1  # a resent week 12 of one series
    again = _history(corrected)
    series = corrected.loc[hit, "store_code"] + "|" + corrected.loc[hit, "product_code"]
    assert again.iloc[:, :12].equals(later.iloc[:, :12])
    assert (again.loc[series].iloc[12:] != later.loc[series].iloc[12:]).all()
    assert again.drop(index=series).equals(later.drop(index=series))  # the other series: as they were


def test_weeks_without_a_row_that_a_later_sale_puts_in_the_span_leave_the_history_as_it_was():
    """A series with no row for weeks 16-19 sells again in week 20: those weeks become zero sales inside its
    span. What had been delivered by week 19 is unchanged, so the origins up to it are kept."""
    panel = promo_panel(30)
    weeks = sorted(panel["week_end_date"].unique())
    gap = (
        (panel["store_code"] == "S1")
        & (panel["product_code"] == "P1")
        & panel["week_end_date"].between(weeks[16], weeks[19])
    )
    before = panel[~gap & (panel["week_end_date"] <= weeks[19])]
    after = panel.copy()
    after.loc[gap, ["units", "is_filled"]] = [0.0, True]
    earlier_panel = feature_set(before, FEATURES).panel
    later_panel = feature_set(after, FEATURES).panel
    assert (
        not earlier_panel.in_span[0, 17] and later_panel.in_span[0, 17]
    )  # S1|P1, the first row: its span grew
    assert _history(before).equals(_history(after).iloc[:, :20])


def _backtest(frame, memo, run, params=PARAMS, production=None):
    """The backtest node as the catalog runs it: stored forecasts and full fits in, new ones saved
    (``production``: the run's production model, trained before it)."""
    metrics, _, cells, _, to_store, _ = nodes.backtest_forecast(
        feature_set(frame, FEATURES),
        {},
        None,
        memo["forecasts"].load(),
        memo["full_fits"].load(),
        run,
        params,
        None,
        production,
    )
    memo["forecasts"].save(to_store)
    return metrics, cells, to_store


def _train(frame, memo, params=PARAMS):
    model, models, full_fits = nodes.train_forecast_model(
        feature_set(frame, FEATURES), {}, memo["models"].load(), memo["full_fits"].load(), params
    )
    memo["models"].save(models)
    memo["full_fits"].save(full_fits)
    return model, models


def _count_fits(monkeypatch) -> list[int]:
    """The columns every TrainingSet.fit from now on fits up to (the fits still run)."""
    fitted_at = []
    real_fit = training.TrainingSet.fit

    def counted_fit(self, until_col, *args, **kwargs):
        fitted_at.append(until_col)
        return real_fit(self, until_col, *args, **kwargs)

    monkeypatch.setattr(training.TrainingSet, "fit", counted_fit)
    return fitted_at


def _memo(folder):
    return {name: MemoDataset(folder / name) for name in ("forecasts", "models", "full_fits")}


def test_an_unchanged_panel_reuses_the_backtest_and_the_model(tmp_path, monkeypatch):
    panel = promo_panel(64, stores=("S1", "S2"))
    memo = _memo(tmp_path)
    metrics, _, stored_forecasts = _backtest(panel, memo, RUN)
    model, stored_models = _train(panel, memo)
    assert stored_forecasts and stored_models

    def no_fitting(*args, **kwargs):
        raise AssertionError("fitted again although nothing changed")

    monkeypatch.setattr(backtest, "recursive_forecast", no_fitting)
    monkeypatch.setattr(training.TrainingSet, "fit", no_fitting)
    again_metrics, again_cells, nothing_new = _backtest(panel, memo, {**RUN, "run_id": "run-2"})
    again_model, no_new_model = _train(panel, memo)
    assert nothing_new == {} and no_new_model == {}
    pd.testing.assert_frame_equal(again_metrics.drop(columns="run_id"), metrics.drop(columns="run_id"))
    assert (again_cells["run_id"] == "run-2").all()
    (fitted,), (read_back,) = model.models.values(), again_model.models.values()
    x = np.zeros((1, len(fitted.features)), dtype="float32")
    assert read_back.predict_matrix(x) == pytest.approx(fitted.predict_matrix(x))

    changed = panel.copy()
    weeks = sorted(panel["week_end_date"].unique())
    changed.loc[(changed["week_end_date"] == weeks[-2]).idxmax(), "units"] += 1  # the last origin's week
    with pytest.raises(AssertionError, match="fitted again"):
        _backtest(changed, memo, RUN)


def test_a_corrected_week_refits_the_origins_from_it_on_and_keeps_the_others(tmp_path):
    panel = promo_panel(64, stores=("S1", "S2"))
    weeks = sorted(panel["week_end_date"].unique())
    memo = _memo(tmp_path)
    params = {**PARAMS, "backtest": {"origins": 4, "horizon": 2}}
    _, cells, stored_first = _backtest(panel, memo, RUN, params)
    (first,) = stored_first.values()
    corrected = panel.copy()
    corrected.loc[(corrected["week_end_date"] == weeks[-3]).idxmax(), "units"] += 7
    _, again_cells, stored_again = _backtest(corrected, memo, {**RUN, "run_id": "run-2"}, params)
    (second,) = stored_again.values()
    assert sorted(first) == sorted(second) == weeks[-5:-1]
    for week in weeks[-5:-3]:  # before the corrected week: the same forecasts
        np.testing.assert_array_equal(second[week].forecasts, first[week].forecasts)
        assert second[week].history == first[week].history
    for week in weeks[-3:-1]:  # from it on: fitted again on the corrected history
        assert second[week].history != first[week].history
    model = "method == 'lightgbm'"
    kept = cells.query(model).query("origin_week < @weeks[-3]")
    kept_again = again_cells.query(model).query("origin_week < @weeks[-3]")
    np.testing.assert_array_equal(kept_again["forecast"].to_numpy(), kept["forecast"].to_numpy())


def test_a_new_week_fits_one_origin_from_productions_full_fit(tmp_path, monkeypatch):
    """With a full fit every week the kept origins are what a full rebuild computes, and the new origin is
    production's full fit of that week (stored by last week's run), not a new one."""
    panel = promo_panel(64, stores=("S1", "S2"))
    weeks = sorted(panel["week_end_date"].unique())
    params = {
        **PARAMS,
        "backtest": {"origins": 3, "horizon": 2},
        "refit": {"full_every_weeks": 1, "refresh_rounds": 5},
    }
    memo = _memo(tmp_path)
    earlier = panel[panel["week_end_date"] <= weeks[-2]]
    _backtest(earlier, memo, RUN, params)
    _train(earlier, memo, params)
    fitted_at = _count_fits(monkeypatch)
    _, cells, stored_now = _backtest(panel, memo, {**RUN, "run_id": "run-2"}, params)
    assert fitted_at == []  # two origins kept, the new one forecast by production's full fit of its week
    (by_origin,) = stored_now.values()
    assert sorted(by_origin) == weeks[-4:-1]
    rebuilt = _backtest(panel, _memo(tmp_path / "rebuild"), RUN, params)[1]
    pd.testing.assert_frame_equal(
        cells.drop(columns="run_id").reset_index(drop=True),
        rebuilt.drop(columns="run_id").reset_index(drop=True),
    )


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


def test_a_series_with_enough_history_only_now_leaves_the_kept_origins_as_they_were(tmp_path, monkeypatch):
    """A series the panel did not have (too short a history then) joins with its past weeks: the origins kept
    are scored on the series forecast from them then, model and baselines alike."""
    panel = promo_panel(64, stores=("S1", "S2"))
    memo = _memo(tmp_path)
    _, cells, _ = _backtest(panel, memo, RUN)
    newcomer = promo_panel(64, stores=("S3",), seed=5)
    monkeypatch.setattr(training.TrainingSet, "fit", lambda *a, **k: pytest.fail("fitted again"))
    _, again, nothing_new = _backtest(pd.concat([panel, newcomer], ignore_index=True), memo, RUN)
    assert nothing_new == {} and "S3" not in set(again["store_code"])
    # the same cells; the text columns' categories are the series of each panel (S3 joined)
    pd.testing.assert_frame_equal(
        again.reset_index(drop=True), cells.reset_index(drop=True), check_categorical=False
    )


def test_the_kept_origins_follow_the_preprocessing_parameters(tmp_path):
    """Spans and outages come from preprocessing: origins kept under other preprocessing settings are fitted
    again."""
    features = feature_set(promo_panel(64, stores=("S1", "S2")), FEATURES)
    memo = _memo(tmp_path)

    def backtest(preprocessing):
        _, _, _, _, to_store, _ = nodes.backtest_forecast(
            features, {}, None, memo["forecasts"].load(), {}, RUN, PARAMS, preprocessing
        )
        memo["forecasts"].save(to_store)
        return to_store

    assert backtest({"min_weeks_history": 8})
    assert backtest({"min_weeks_history": 8}) == {}  # kept
    assert backtest({"min_weeks_history": 8, "outages": {"detect": "off"}})  # fitted again


def test_a_new_week_scores_productions_model_of_last_week_without_fitting_it_again(tmp_path, monkeypatch):
    """Each week's run trains production's model, then backtests, and keeps that model's forecasts from the
    last week: next week that is the last origin, so a new week's backtest fits nothing, and it scores there
    what fitting that origin again from the same full fit gives."""
    panel = promo_panel(64, stores=("S1", "S2"))
    weeks = sorted(panel["week_end_date"].unique())
    memo = _memo(tmp_path)
    for week in weeks[-4:-1]:  # production's full fit at weeks[-4], refreshed at weeks[-3] and weeks[-2]
        earlier = panel[panel["week_end_date"] <= week]
        model, _ = _train(earlier, memo)
        _, _, stored_then = _backtest(earlier, memo, RUN, production=model)
        (by_origin,) = stored_then.values()
        assert week in by_origin and by_origin[week].known == 2  # the backtest's horizon
    assert model.refreshed
    model, _ = _train(panel, memo)
    fitted_at = _count_fits(monkeypatch)
    _, cells, stored_now = _backtest(panel, memo, {**RUN, "run_id": "run-2"}, production=model)
    assert fitted_at == []
    (by_origin,) = stored_now.values()
    assert sorted(by_origin) == weeks[-3:]  # the two origins, and this week's model's forecasts for next week

    refitted = _memo(tmp_path / "refit")  # no kept forecasts; the same stored full fit
    refitted["full_fits"] = memo["full_fits"]
    _, again, _ = _backtest(panel, refitted, {**RUN, "run_id": "run-3"})
    assert sorted(set(fitted_at)) == [len(weeks) - 3, len(weeks) - 2]  # fitted again, this time
    model_cells = [c[c["method"] == "lightgbm"].reset_index(drop=True) for c in (cells, again)]
    pd.testing.assert_frame_equal(
        model_cells[0].drop(columns="run_id"), model_cells[1].drop(columns="run_id")
    )


def test_production_forecasts_are_not_kept_where_the_backtest_reads_the_actual_weeks(tmp_path):
    panel = promo_panel(40, stores=("S1",))
    params = {**PARAMS, "known_inputs": "actual_is_plan"}
    memo = _memo(tmp_path)
    model, _ = _train(panel, memo, params)
    _, _, stored_now = _backtest(panel, memo, RUN, params, production=model)
    (by_origin,) = stored_now.values()
    assert max(by_origin) < sorted(panel["week_end_date"].unique())[-1]
