"""Forecasting pipeline: choose the settings, train, backtest, forecast, write, quality gate, charts and report.

Stored results (``stored_*`` in, ``*_to_store`` out) are the same folders read and written by one node (see
reuse.py). The backtest writes ``backtest_metrics`` and says so in ``backtest_write_status``; the gate and the
report read ``this_run_backtest_metrics`` (the same table, this run's rows) after it.
"""

from kedro.pipeline import Pipeline, node

from .nodes import (
    backtest_forecast,
    build_forecast_report,
    choose_model_settings,
    evaluate_quality_gate,
    forecast_next_weeks,
    train_forecast_model,
    write_forecasts,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                choose_model_settings,
                inputs=["feature_set", "stored_full_fits", "promo_plan", "params:forecasting"],
                outputs="model_settings",
                name="choose_model_settings",
            ),
            node(
                train_forecast_model,
                inputs=[
                    "feature_set",
                    "model_settings",
                    "stored_forecast_models",
                    "stored_full_fits",
                    "params:forecasting",
                ],
                outputs=["forecast_model", "forecast_models_to_store", "full_fits_to_store"],
                name="train_forecast_model",
            ),
            node(
                backtest_forecast,
                inputs=[
                    "feature_set",
                    "model_settings",
                    "promo_plan",
                    "stored_backtest_forecasts",
                    "stored_full_fits",
                    "run_context",
                    "params:forecasting",
                    "params:preprocessing",
                    "forecast_model",
                ],
                outputs=[
                    "backtest_metrics",
                    "backtest_write_status",
                    "backtest_cells",
                    "interval_calibration",
                    "backtest_forecasts_to_store",
                    "production_forecast",
                ],
                name="backtest_forecast",
            ),
            node(
                forecast_next_weeks,
                inputs=[
                    "forecast_model",
                    "feature_set",
                    "promo_plan",
                    "interval_calibration",
                    "run_context",
                    "params:forecasting",
                    "production_forecast",
                ],
                outputs="forecast_frame",
                name="forecast_next_weeks",
            ),
            node(
                write_forecasts,
                inputs=["forecast_frame", "run_context"],
                outputs=["forecasts", "forecast_write_status"],
                name="write_forecasts",
            ),
            node(
                evaluate_quality_gate,
                inputs=[
                    "this_run_backtest_metrics",
                    "backtest_write_status",
                    "published_model_runs",
                    "forecast_model",
                    "model_settings",
                    "run_context",
                    "params:forecasting",
                ],
                outputs=["quality_gate_status", "model_runs"],
                name="quality_gate",
            ),
            node(
                build_forecast_report,
                inputs=[
                    "backtest_cells",
                    "this_run_backtest_metrics",
                    "backtest_write_status",
                    "forecast_frame",
                    "quality_gate_status",
                    "forecast_model",
                    "model_panel_status",
                    "run_context",
                ],
                outputs=["forecast_chart", "backtest_chart", "forecast_report", "forecast_report_script"],
                name="build_forecast_report",
            ),
        ]
    )
