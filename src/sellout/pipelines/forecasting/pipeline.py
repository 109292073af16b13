"""Forecasting pipeline: train, backtest, forecast, write, quality gate, charts and report."""

from kedro.pipeline import Pipeline, node

from .nodes import (
    backtest_forecast,
    build_forecast_report,
    evaluate_quality_gate,
    forecast_next_weeks,
    train_forecast_model,
    write_forecasts,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                train_forecast_model,
                inputs=["model_features", "model_panel", "params:forecasting", "params:features"],
                outputs="forecast_model",
                name="train_forecast_model",
            ),
            node(
                backtest_forecast,
                inputs=["model_panel", "run_context", "params:forecasting", "params:features"],
                outputs=["backtest_metrics", "backtest_cells", "interval_calibration"],
                name="backtest_forecast",
            ),
            node(
                forecast_next_weeks,
                inputs=[
                    "forecast_model",
                    "model_panel",
                    "promo_plan",
                    "interval_calibration",
                    "run_context",
                    "params:forecasting",
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
                    "backtest_metrics",
                    "published_model_runs",
                    "forecast_model",
                    "model_panel",
                    "run_context",
                    "params:forecasting",
                ],
                outputs=["quality_gate_status", "model_runs"],
                name="quality_gate",
            ),
            node(
                build_forecast_report,
                inputs=[
                    "model_panel",
                    "backtest_cells",
                    "backtest_metrics",
                    "forecast_frame",
                    "quality_gate_status",
                    "forecast_model",
                    "run_context",
                ],
                outputs=["forecast_chart", "backtest_chart", "forecast_report"],
                name="build_forecast_report",
            ),
        ]
    )
