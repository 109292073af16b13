"""Forecasting pipeline: train the global LightGBM model, forecast the next weeks, backtest on a holdout."""

from kedro.pipeline import Pipeline, node

from .nodes import backtest_forecast, forecast_next_weeks, train_forecast_model, write_forecasts


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                train_forecast_model,
                inputs=["model_features", "params:forecasting", "params:features"],
                outputs="forecast_model",
                name="train_forecast_model",
            ),
            node(
                forecast_next_weeks,
                inputs=["forecast_model", "model_panel", "run_context", "params:forecasting"],
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
                backtest_forecast,
                inputs=["model_panel", "run_context", "params:forecasting", "params:features"],
                outputs="backtest_metrics",
                name="backtest_forecast",
            ),
        ]
    )
