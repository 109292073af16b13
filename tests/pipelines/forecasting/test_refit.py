"""The refit schedule: full fits, cheap refreshes on top of them, in the backtest and in production."""

import pickle

import numpy as np
import pytest
from support.forecast_panels import promo_panel

from sellout.pipelines.features.nodes import build_model_features
from sellout.pipelines.features.wide import to_wide
from sellout.pipelines.forecasting import nodes
from sellout.pipelines.forecasting.backtest import run_backtest
from sellout.pipelines.forecasting.model import TrainingSet, recursive_forecast
from sellout.pipelines.forecasting.refit import RefitSchedule

FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4]}
SCALE = {"features": ["roll_mean_4", "roll_mean_13"]}
LGBM = {"n_estimators": 60, "num_leaves": 15, "min_child_samples": 5, "num_threads": 1, "learning_rate": 0.1}


def test_schedule_settings():
    assert not RefitSchedule.from_params(None).refreshes(1)
    schedule = RefitSchedule.from_params({"full_every_weeks": 3, "refresh_rounds": 10})
    assert [schedule.refreshes(w) for w in range(5)] == [False, True, True, False, False]
    with pytest.raises(ValueError, match=r"unknown keys \['rounds'\]"):
        RefitSchedule.from_params({"rounds": 3})
    with pytest.raises(ValueError, match="full_every_weeks must be >= 1"):
        RefitSchedule.from_params({"full_every_weeks": 0})
    refresh = {"full_every_weeks": 3, "refresh_rounds": 10}
    with pytest.raises(ValueError, match="forecasting.refit.refresh_rounds needs"):
        nodes.resolve_forecast_params({"refit": refresh, "lightgbm": {"objective": "cross_entropy"}})
    nodes.resolve_forecast_params(
        {"refit": {"refresh_rounds": 0}, "lightgbm": {"objective": "cross_entropy"}}
    )


@pytest.fixture(scope="module")
def panel():
    return to_wide(promo_panel(70, stores=("S1", "S2", "S3")))


def test_a_refresh_keeps_the_base_trees_and_learns_the_new_weeks(panel):
    training = TrainingSet.from_panel(panel, FEATURES, target_scale=SCALE)
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


def test_the_base_scores_come_from_training_not_a_second_prediction(panel):
    training = TrainingSet.from_panel(panel, FEATURES, target_scale=SCALE)
    until = len(panel.weeks) - 6
    base = training.fit(until, LGBM)
    keep = training._rows_until(until)
    scaled, _ = training.target_scale.scale_features(training.x[keep], training.features)
    remembered = training._base_scores[keep]
    # LightGBM's own training scores; they match a fresh prediction (to bin-edge rounding on a few rows)
    assert np.mean(np.isclose(remembered, base.raw_scores(scaled), atol=1e-6)) > 0.95


def test_the_backtest_replays_the_schedule(panel):
    training = TrainingSet.from_panel(panel, FEATURES, target_scale=SCALE)
    kinds = []
    origins = list(range(len(panel.weeks) - 6, len(panel.weeks) - 1))
    run_backtest(
        panel,
        training,
        origins,
        2,
        LGBM,
        on_origin=lambda origin, wall, cpu, kind: kinds.append(kind),
        refit={"full_every_weeks": 3, "refresh_rounds": 5},
    )
    assert kinds == ["full fit", "refresh", "refresh", "full fit", "refresh"]


def test_production_refreshes_the_stored_full_fit_until_it_is_old_or_its_history_changed(tmp_path):
    later = promo_panel(66, stores=("S1", "S2"))
    weeks = sorted(later["week_end_date"].unique())
    refit = {"full_every_weeks": 2, "refresh_rounds": 5}

    def train(frame, memo_dir):
        params = {"lightgbm": LGBM, "target_scale": SCALE, "memo_dir": str(memo_dir), "refit": refit}
        return nodes.train_forecast_model(build_model_features(frame, FEATURES), frame, params, FEATURES)

    def until(week):
        return later[later["week_end_date"] <= week]

    assert train(until(weeks[-3]), tmp_path / "a").refresh is None
    refreshed = train(until(weeks[-2]), tmp_path / "a")
    assert refreshed.refresh is not None and refreshed.base_trained_until == weeks[-3]

    assert train(until(weeks[-3]), tmp_path / "b").refresh is None
    assert train(later, tmp_path / "b").refresh is None  # two weeks old: fitted in full again

    assert train(until(weeks[-3]), tmp_path / "c").refresh is None
    corrected = until(weeks[-2]).copy()
    corrected.loc[corrected.index[0], "units"] += 5  # an old week delivered again with other figures
    assert train(corrected, tmp_path / "c").refresh is None
