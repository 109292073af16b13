"""Fitting on the feature set: full fits, cheap refreshes on top of them (the refit schedule), in the backtest and
in production."""

import pickle

import numpy as np
import pandas as pd
import pytest
from support.forecast_panels import feature_set, promo_panel, source_trainings

from sellout.config.model_parameters import ForecastingParams, RefitParams
from sellout.datasets import MemoDataset
from sellout.pipelines.forecasting import nodes
from sellout.pipelines.forecasting.backtest import run_backtest
from sellout.pipelines.forecasting.model import recursive_forecast
from sellout.pipelines.forecasting.training import REFRESH_BIN_SAMPLE_ROWS, TrainingSet

FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4], "exclude": []}
SCALE = {"features": ["roll_mean_4", "roll_mean_13"]}
LGBM = {"n_estimators": 60, "num_leaves": 15, "min_child_samples": 5, "num_threads": 1, "learning_rate": 0.1}


def test_schedule_settings():
    assert not RefitParams.of({"full_every_weeks": 1}).refreshes(1)
    schedule = RefitParams.of({"full_every_weeks": 3, "refresh_rounds": 10})
    assert [schedule.refreshes(w) for w in range(5)] == [False, True, True, False, False]
    with pytest.raises(ValueError, match=r"refit\.rounds: unknown key"):
        RefitParams.of({"rounds": 3}, "forecasting.refit")
    with pytest.raises(ValueError, match=r"full_every_weeks: Input should be greater than or equal to 1"):
        RefitParams.of({"full_every_weeks": 0})
    refresh = {"full_every_weeks": 3, "refresh_rounds": 10}
    with pytest.raises(ValueError, match="refit.refresh_rounds needs"):
        ForecastingParams.of({"refit": refresh, "lightgbm": {"objective": "cross_entropy"}})
    ForecastingParams.of({"refit": {"refresh_rounds": 0}, "lightgbm": {"objective": "cross_entropy"}})


@pytest.fixture(scope="module")
def features():
    return feature_set(promo_panel(70, stores=("S1", "S2", "S3")), FEATURES)


def test_a_refresh_keeps_the_base_trees_and_learns_the_new_weeks(features):
    panel = features.panel
    training = TrainingSet(features, target_scale=SCALE)
    origin = len(panel.weeks) - 3
    base = training.fit(origin - 3, LGBM)
    refreshed = training.fit(origin, LGBM, base=base, refresh_rounds=20)
    assert refreshed.booster is base.booster and refreshed.refresh is not None
    assert refreshed.base_trained_until == base.trained_until < refreshed.trained_until
    rows = np.arange(panel.n_series)
    actual = panel.units[rows, origin + 1 : origin + 3]
    forecast = recursive_forecast(refreshed, panel, origin, 2, rows)
    assert not np.allclose(forecast, recursive_forecast(base, panel, origin, 2, rows))
    assert np.abs(forecast - actual).sum() / actual.sum() < 0.35
    again = pickle.loads(pickle.dumps(refreshed))
    np.testing.assert_allclose(recursive_forecast(again, panel, origin, 2, rows), forecast)


def test_a_refresh_from_the_kept_scores_is_the_refresh_of_the_same_training_set(features):
    """Production refreshes a stored full fit in a new process: from the training scores kept with it, so that
    its refresh is the backtest's (which refreshes its own last full fit)."""
    panel = features.panel
    origin = len(panel.weeks) - 3
    training = TrainingSet(features, target_scale=SCALE)
    base = training.fit(origin - 2, LGBM)
    kept = training.base_scores(base)
    in_backtest = training.fit(origin, LGBM, base=base, refresh_rounds=10)
    in_production = TrainingSet(pickle.loads(pickle.dumps(features)), target_scale=SCALE)
    in_production.adopt_base(base, pickle.loads(pickle.dumps(kept)))
    refreshed = in_production.fit(origin, LGBM, base=base, refresh_rounds=10)
    rows = np.arange(panel.n_series)
    np.testing.assert_allclose(
        recursive_forecast(refreshed, panel, origin, 2, rows),
        recursive_forecast(in_backtest, panel, origin, 2, rows),
    )
    assert len(kept.scores) == training.fit_rows(origin - 2) and not np.isnan(kept.scores).any()


def test_a_training_set_of_some_series_and_columns(features):
    rows = np.flatnonzero(features.panel.series["store_code"] == "S2")
    columns = [c for c in features.engine.columns if c != "promotion"]
    training = TrainingSet(features, series=rows, columns=columns)
    last = len(features.panel.weeks) - 1
    model = training.fit(last, LGBM)
    assert model.features == columns and model.n_train_rows == training.fit_rows(last)
    assert model.n_train_rows == int(np.isin(features.rows, rows).sum())
    x = features.x[:5]
    index = [features.engine.columns.index(c) for c in columns]
    np.testing.assert_allclose(model.predict_engine_matrix(x), model.predict_matrix(x[:, index]))
    with pytest.raises(ValueError, match="not features of the engine"):
        TrainingSet(features, columns=["lag_1", "no_such_feature"])


def test_the_backtest_replays_the_schedule(features):
    panel = features.panel
    kinds = []
    origins = list(range(len(panel.weeks) - 6, len(panel.weeks) - 1))
    run_backtest(
        panel,
        source_trainings(features, {"lightgbm": LGBM, "target_scale": SCALE}),
        origins,
        2,
        on_origin=lambda timing: kinds.append(timing.kind),
        refit=RefitParams(full_every_weeks=3, refresh_rounds=5),
    )
    assert kinds == ["full fit", "refresh", "refresh", "full fit", "refresh"]


def train(frame, memo_dir, refit, features=FEATURES):
    """The train node as the catalog runs it: stored results in, new ones saved to the same folders."""
    models, full_fits = MemoDataset(memo_dir / "models"), MemoDataset(memo_dir / "full_fits")
    params = {"lightgbm": LGBM, "target_scale": SCALE, "refit": refit}
    model, new_models, new_full_fits = nodes.train_forecast_model(
        feature_set(frame, features), {}, models.load(), full_fits.load(), params
    )
    models.save(new_models)
    full_fits.save(new_full_fits)
    return model


def test_production_refreshes_the_stored_full_fit_until_it_is_old(tmp_path):
    later = promo_panel(66, stores=("S1", "S2"))
    weeks = sorted(later["week_end_date"].unique())
    refit = {"full_every_weeks": 2, "refresh_rounds": 5}

    def until(week):
        return later[later["week_end_date"] <= week]

    assert not train(until(weeks[-3]), tmp_path / "a", refit).refreshed
    (refreshed,) = train(until(weeks[-2]), tmp_path / "a", refit).models.values()
    assert refreshed.refresh is not None and refreshed.base_trained_until == weeks[-3]

    assert train(until(weeks[-3]), tmp_path / "b", refit).refreshed is False
    assert train(later, tmp_path / "b", refit).refreshed is False  # two weeks old: fitted in full again

    assert train(until(weeks[-3]), tmp_path / "c", refit).refreshed is False
    corrected = until(weeks[-2]).copy()
    corrected.loc[corrected.index[0], "units"] += 5  # an old week delivered again with other figures
    assert train(corrected, tmp_path / "c", refit).refreshed is True  # its changed rows are predicted again


def test_a_refresh_predicts_again_the_kept_rows_whose_features_changed():
    """A corrected week moves the features of rows at and after it (never before: features read the past): a
    refresh from the kept scores takes those rows' scores from the base model's prediction, not the kept ones."""
    panel = promo_panel(70, stores=("S1", "S2", "S3"))
    weeks = sorted(panel["week_end_date"].unique())
    origin = len(weeks) - 3
    before = feature_set(panel, FEATURES)
    base_training = TrainingSet(before, target_scale=SCALE)
    base = base_training.fit(origin - 2, LGBM)
    kept = base_training.base_scores(base)
    assert TrainingSet(before, target_scale=SCALE).adopt_base(base, kept) == 0  # nothing changed
    corrected = panel.copy()
    corrected.loc[(corrected["week_end_date"] == weeks[origin - 6]).idxmax(), "units"] += 40
    after = feature_set(corrected, FEATURES)
    adopted = TrainingSet(after, target_scale=SCALE)
    changed = adopted.adopt_base(base, kept)
    to_predict = adopted.weeks[adopted.cols[np.isnan(adopted._base_scores)]]
    trained = adopted.cols <= origin - 2
    assert 0 < changed == int((np.isnan(adopted._base_scores) & trained).sum())
    assert to_predict.min() > weeks[origin - 6]  # the weeks after the corrected one read it
    from_kept = adopted.fit(origin, LGBM, base=base, refresh_rounds=10)
    predicted = TrainingSet(after, target_scale=SCALE).fit(origin, LGBM, base=base, refresh_rounds=10)
    rows = np.arange(after.panel.n_series)
    # LightGBM's kept training scores and its predictions of the same rows differ by rounding only
    np.testing.assert_allclose(
        recursive_forecast(from_kept, after.panel, origin, 2, rows),
        recursive_forecast(predicted, after.panel, origin, 2, rows),
        rtol=0.05,
    )


def test_a_new_store_renumbering_the_attribute_codes_means_a_full_fit(tmp_path):
    panel = promo_panel(66, stores=("S2", "S3"))
    weeks = sorted(panel["week_end_date"].unique())
    earlier = panel[panel["week_end_date"] <= weeks[-2]]
    newcomer = promo_panel(66, stores=("S1",))  # a store sorted before the others opens in the last week
    with_newcomer = pd.concat([panel, newcomer[newcomer["week_end_date"] == weeks[-1]]], ignore_index=True)
    refit = {"full_every_weeks": 3, "refresh_rounds": 5}
    for folder, latest, refreshed in (("as_scheduled", panel, True), ("renumbered", with_newcomer, False)):
        assert train(earlier, tmp_path / folder, refit).refreshed is False
        assert train(latest, tmp_path / folder, refit).refreshed is refreshed


def test_a_fit_is_the_same_whatever_the_thread_count(features):
    """`num_threads: 0` (every core) in conf/base: a model fitted on a 2-core CI equals one fitted on the NAS."""
    panel = features.panel
    training = TrainingSet(features, target_scale=SCALE)
    origin = len(panel.weeks) - 3
    rows = np.arange(panel.n_series)
    forecasts = [
        recursive_forecast(training.fit(origin, {**LGBM, "num_threads": threads}), panel, origin, 2, rows)
        for threads in (1, 2)
    ]
    np.testing.assert_array_equal(forecasts[0], forecasts[1])


def test_refreshes_side_by_side_are_the_refreshes_one_at_a_time(features):
    panel = features.panel
    origins = list(range(len(panel.weeks) - 6, len(panel.weeks) - 1))
    runs = []
    for parallel_fits in (1, 2):
        params = {"lightgbm": LGBM, "target_scale": SCALE, "parallel_fits": parallel_fits}
        timings = []
        cells, _, made = run_backtest(
            panel,
            source_trainings(features, params),
            origins,
            2,
            on_origin=timings.append,
            refit=RefitParams(full_every_weeks=4, refresh_rounds=5),
        )
        runs.append((cells, [t.kind for t in timings], made))
    (cells, kinds, made), (side_by_side, side_by_side_kinds, side_by_side_made) = runs
    assert kinds == side_by_side_kinds == ["full fit", "refresh", "refresh", "refresh", "full fit"]
    pd.testing.assert_frame_equal(cells, side_by_side)
    for week, forecasts in made.items():
        np.testing.assert_array_equal(forecasts.forecasts, side_by_side_made[week].forecasts)


def test_a_refresh_draws_its_bins_from_fewer_rows_unless_the_settings_say(features):
    training = TrainingSet(features, target_scale=SCALE)
    origin = len(features.panel.weeks) - 3
    base = training.fit(origin - 3, LGBM)
    refreshed = training.fit(origin, LGBM, base=base, refresh_rounds=5)
    assert "bin_construct_sample_cnt" not in base.booster.params
    assert refreshed.refresh.params["bin_construct_sample_cnt"] == REFRESH_BIN_SAMPLE_ROWS
    chosen = {**LGBM, "extra": {"bin_construct_sample_cnt": 1000}}
    refreshed = training.fit(origin, chosen, base=training.fit(origin - 3, chosen), refresh_rounds=5)
    assert refreshed.refresh.params["bin_construct_sample_cnt"] == 1000
