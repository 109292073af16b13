"""The forecasting nodes on a small panel: backtest metrics, forecasts with intervals, gate, report, wiring."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.validation.exceptions import ParameterValidationError
from kedro.validation.parameter_validator import ParameterValidator
from support.forecast_panels import feature_set, promo_panel

from sellout.config.model_parameters import ForecastingParams
from sellout.pipelines.forecasting import create_pipeline, intervals
from sellout.pipelines.forecasting.nodes import (
    BACKTEST_COLUMNS,
    FORECAST_COLUMNS,
    backtest_forecast,
    build_forecast_report,
    choose_model_settings,
    evaluate_quality_gate,
    forecast_next_weeks,
    train_forecast_model,
    write_forecasts,
)
from sellout.pipelines.preprocessing.nodes import summarize_model_panel

FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4], "exclude": []}
# The source delivers a promo plan, and the backtest takes the actual weeks as that plan.
PARAMS = {
    "horizon": 6,
    "backtest": {"origins": 3, "horizon": 4},
    "lightgbm": {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 5, "num_threads": 1},
    "known_inputs": "actual_is_plan",
    "selection": {"min_training_rows": 100},
}
RUN = {
    "run_id": "run-1",
    "mode": "full",
    "dry_run": False,
    "env": "test",
    "started_at": "2024-07-01T06:00:00+00:00",
}


@pytest.fixture(scope="module")
def outputs():
    panel = promo_panel(64, stores=("S1", "S2", "S3"))
    features = feature_set(panel, FEATURES)
    settings = choose_model_settings(features, {}, None, PARAMS)
    model, stored_model, _ = train_forecast_model(features, settings, {}, {}, PARAMS)
    assert list(stored_model.values()) == [model]
    metrics, written, cells, calibration, stored_forecasts, _ = backtest_forecast(
        features, settings, None, {}, {}, RUN, PARAMS
    )
    assert written == {"run_id": "run-1", "table": "forecast.backtest_metrics", "rows": len(metrics)}
    (by_origin,) = stored_forecasts.values()  # the model's forecasts from each origin, for the next run
    assert sorted(by_origin) == sorted(cells["origin_week"].unique())
    forecasts = forecast_next_weeks(model, features, pd.DataFrame(), calibration, RUN, PARAMS)
    return panel, model, metrics, cells, calibration, forecasts, features, settings


def test_backtest_metrics_per_method_horizon_and_category(outputs):
    _, model, metrics, cells, calibration, *_ = outputs
    assert list(metrics.columns) == list(BACKTEST_COLUMNS)
    assert set(metrics["method"]) == {"lightgbm", "naive", "moving_average_4", "seasonal_naive"}
    assert set(metrics["category"]) == {"C1", "C2", "ALL"} and set(metrics["horizon"]) == {0, 1, 2, 3}
    assert set(metrics["segment"]) == {"ALL", "promoted", "not_promoted"} and set(metrics["measure"]) == {
        "units"
    }
    every = (metrics["horizon"] == 0) & (metrics["method"] == "lightgbm") & (metrics["category"] == "ALL")
    by_promotion = metrics[every].set_index("segment")
    assert by_promotion.loc["promoted", "n_cells"] + by_promotion.loc["not_promoted", "n_cells"] == len(
        cells[cells["method"] == "lightgbm"]
    )
    overall = metrics[
        (metrics["horizon"] == 0) & (metrics["category"] == "ALL") & (metrics["segment"] == "ALL")
    ]
    overall = overall.set_index("method")
    lgbm = cells[cells["method"] == "lightgbm"]
    expected = (lgbm["forecast"] - lgbm["actual"]).abs().sum() / lgbm["actual"].sum()
    assert overall.loc["lightgbm", "wape"] == pytest.approx(expected)
    assert overall.loc["lightgbm", "wape"] < overall.loc["naive", "wape"]  # promotions are known in advance
    assert (metrics["run_id"] == "run-1").all() and (metrics["model_version"] == model.model_version).all()
    assert 0.0 <= calibration["backtest_coverage"] <= 1.0 and calibration["quantiles"]
    assert calibration["scale"] == pytest.approx(
        intervals.origin_level_scale(
            lgbm["actual"].to_numpy(), lgbm["forecast"].to_numpy(), lgbm["origin_week"].to_numpy()
        )
    )


def test_forecasts_are_the_model_times_the_calibrated_level_scale(outputs):
    _, model, _, _, calibration, forecasts, features, _ = outputs
    doubled = forecast_next_weeks(model, features, pd.DataFrame(), {**calibration, "scale": 2.0}, RUN, PARAMS)
    ratio = doubled["forecast_units"] / forecasts["forecast_units"] * calibration["scale"]
    np.testing.assert_allclose(ratio[forecasts["forecast_units"] > 0], 2.0)


def test_forecasts_have_every_series_and_horizon_with_ordered_intervals(outputs):
    _, model, _, _, _, forecasts, _, _ = outputs
    assert list(forecasts.columns) == list(FORECAST_COLUMNS)
    assert len(forecasts) == 6 * 6 and forecasts.groupby(["store_code", "product_code"]).size().eq(6).all()
    assert (forecasts["measure"] == "units").all()
    assert (forecasts["forecast_p10"] <= forecasts["forecast_units"]).all()
    assert (forecasts["forecast_units"] <= forecasts["forecast_p90"]).all()
    assert (forecasts["forecast_p90"] > forecasts["forecast_p10"]).mean() > 0.9
    assert (forecasts["model_version"] == model.model_version).all()
    frame, status = write_forecasts(forecasts, RUN)
    assert status["rows"] == 36 and status["series"] == 6 and status["model_version"] == model.model_version


def test_a_planned_promotion_changes_the_forecast(outputs):
    _, model, _, _, calibration, plain, features, _ = outputs
    week = plain["target_week"].min()
    plan = pd.DataFrame(
        {"store_code": ["S1"], "product_code": ["P1"], "week_end_date": [week], "feature": [True]}
    )
    plan["price"] = 1.5
    promoted = forecast_next_weeks(model, features, plan, calibration, RUN, PARAMS)
    key = (promoted["store_code"] == "S1") & (promoted["product_code"] == "P1") & (promoted["horizon"] == 1)
    assert promoted.loc[key, "forecast_units"].iloc[0] > 1.5 * plain.loc[key, "forecast_units"].iloc[0]
    others = ~((promoted["store_code"] == "S1") & (promoted["product_code"] == "P1"))
    np.testing.assert_allclose(
        promoted.loc[others & (promoted["horizon"] == 1), "forecast_units"],
        plain.loc[others & (plain["horizon"] == 1), "forecast_units"],
    )


def test_gate_and_report(outputs):
    panel, model, metrics, cells, _, forecasts, _, settings = outputs
    written = {"run_id": "run-1", "rows": len(metrics)}
    status, run_row = evaluate_quality_gate(metrics, written, pd.DataFrame(), model, settings, RUN, PARAMS)
    assert set(status) == {
        "run_id",
        "passed",
        "reason",
        "model_wape",
        "best_baseline",
        "best_baseline_wape",
        "last_published_wape",
        "margin",
        "measure",
        "known_inputs",
    }
    assert status["passed"] is True and status["last_published_wape"] is None
    assert run_row["run_id"].tolist() == ["run-1"] and bool(run_row["gate_passed"].iloc[0])
    assert run_row["origin_week"].iloc[0] == panel["week_end_date"].max()
    whole_panel = panel.assign(
        source="default", measure="units", series_id=panel["store_code"], is_outage=False
    )
    panel_status = {
        **summarize_model_panel(pd.DataFrame(), whole_panel),
        "sources": {"default": {"measure": "units", "series": 6, "outage_weeks": 3}},
    }
    chart, table, report, script = build_forecast_report(
        cells, metrics, written, forecasts, status, model, panel_status, RUN
    )
    assert isinstance(chart, go.Figure) and isinstance(table, go.Figure)
    assert {t.name for t in chart.data} >= {"actual", "forecast", "backtest lightgbm (h=1)"}
    [actual] = [t for t in chart.data if t.name == "actual"]
    weekly = panel.groupby("week_end_date")["units"].sum().tail(len(actual.y))
    assert list(actual.y) == weekly.tolist() and list(pd.to_datetime(actual.x)) == list(weekly.index)
    html = report["run-1"]
    assert (
        html.startswith("<!DOCTYPE html>") and "Quality gate: PASSED" in html and model.model_version in html
    )
    assert "<td>actual_is_plan</td>" in html and "<td>3</td>" in html  # known inputs, outage weeks
    assert run_row["known_inputs"].iloc[0] == "actual_is_plan"
    # plotly.js is one file beside the reports, not inlined in each
    [(script_name, source)] = script.items()
    assert f'src="{script_name}.js"' in html and len(source) > 1_000_000 and len(html) < 500_000


def test_a_report_of_an_airflow_run_has_a_file_name_an_smb_share_keeps(outputs):
    panel, model, metrics, cells, _, forecasts, _, settings = outputs
    run = {**RUN, "run_id": "scheduled__2026-03-02T06:00:00+00:00"}
    written = {"run_id": run["run_id"], "rows": len(metrics)}
    status, _ = evaluate_quality_gate(metrics, written, pd.DataFrame(), model, settings, run, PARAMS)
    _, _, report, _ = build_forecast_report(cells, metrics, written, forecasts, status, model, {}, run)
    assert list(report) == ["scheduled__2026-03-02T06-00-00-00-00"]


def test_the_gate_refuses_metrics_that_are_not_what_the_backtest_wrote(outputs):
    _, model, metrics, *_, settings = outputs
    for written in ({"run_id": "run-1", "rows": len(metrics) + 1}, {"run_id": "run-0", "rows": len(metrics)}):
        with pytest.raises(ValueError, match="read .* rows back"):
            evaluate_quality_gate(metrics, written, pd.DataFrame(), model, settings, RUN, PARAMS)


def test_bad_parameters_are_refused(outputs):
    _, model, *_, features, settings = outputs
    with pytest.raises(ValueError, match="known_inputs"):
        backtest_forecast(features, settings, None, {}, {}, RUN, {**PARAMS, "known_inputs": "guess"})
    with pytest.raises(ValueError, match="forecasting.horizon"):
        forecast_next_weeks(model, features, None, {}, RUN, {**PARAMS, "horizon": 0})


def test_kedro_validates_the_parameters_into_their_model_before_a_run():
    validator = ParameterValidator({"forecasting": create_pipeline()})
    validated = validator.validate_raw_params({"forecasting": {"horizon": "6"}, "mode": "full"})
    assert validated["forecasting"] == ForecastingParams(horizon=6) and validated["mode"] == "full"
    with pytest.raises(ParameterValidationError, match="horizon"):
        validator.validate_raw_params({"forecasting": {"horizon": "eight"}})


def test_pipeline_wiring():
    pipe = create_pipeline()
    names = {n.name for n in pipe.nodes}
    assert names == {
        "choose_model_settings",
        "train_forecast_model",
        "backtest_forecast",
        "forecast_next_weeks",
        "write_forecasts",
        "quality_gate",
        "build_forecast_report",
    }
    assert {
        "forecasts",
        "forecast_write_status",
        "backtest_metrics",
        "backtest_write_status",
        "quality_gate_status",
        "model_runs",
        "forecast_models_to_store",
        "full_fits_to_store",
        "backtest_forecasts_to_store",
    } <= set(pipe.all_outputs())
    assert {
        "published_model_runs",
        "feature_set",
        "stored_forecast_models",
        "stored_full_fits",
    } <= pipe.inputs()
    # The gate and the report read the metrics back (this run's rows) after the backtest wrote them.
    order = [n.name for n in pipe.nodes]
    assert (
        order.index("backtest_forecast") < order.index("quality_gate") < order.index("build_forecast_report")
    )


def test_the_backtest_logs_each_origin_as_it_goes(outputs, caplog):
    *_, features, settings = outputs
    with caplog.at_level("INFO", logger="sellout.pipelines.forecasting.nodes"):
        backtest_forecast(features, settings, None, {}, {}, RUN, PARAMS)
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Backtest origin")]
    n = PARAMS["backtest"]["origins"]
    assert len(progress) == n and progress[-1].startswith(f"Backtest origin {n} of {n} ("), progress
    assert all(("full fit in" in m) or ("refresh in" in m) for m in progress)


def test_a_new_retailers_short_history_is_backtested_on_the_weeks_it_has(caplog):
    """12 weeks and 13 origins: the backtest starts where the first origin has min_training_weeks to fit on,
    and says so; the choice of settings validates before that origin (here too few rows: the default)."""
    features = feature_set(promo_panel(12, stores=("S1", "S2")), FEATURES)
    params = {**PARAMS, "backtest": {"origins": 13, "horizon": 4, "min_training_weeks": 8}}
    settings = choose_model_settings(features, {}, None, params)
    assert settings["default"]["candidate"] == "scaled_tweedie"
    with caplog.at_level("WARNING", logger="sellout.pipelines.forecasting.nodes"):
        metrics, *_ = backtest_forecast(features, settings, None, {}, {}, RUN, params)
    weeks = features.panel.weeks
    assert (metrics["first_origin_week"] == weeks[7]).all()
    assert (metrics["last_origin_week"] == weeks[10]).all()
    assert "Backtest on 4 origins, not 13: the panel has 12 weeks, the first origin keeps 8" in caplog.text
