"""Forecasting nodes: train, backtest, forecast, quality gate, report.

Every node reads the features stage's ``feature_set`` (the panel as matrices, the feature engine, the training
rows); the model, the backtest protocol, the plan rule and the intervals live in model.py / training.py,
backtest.py, plan.py and intervals.py, and these functions adapt them to the Kedro datasets. The train and
backtest nodes look their result up in the stored results first (reuse.py) and hand new ones to the catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sellout.canonical import SERIES_KEYS
from sellout.config.model_parameters import ForecastingParams
from sellout.pipelines.features.feature_set import FeatureSet

from . import gate, intervals, report
from .backtest import MODEL_METHOD, origin_columns, run_backtest, score
from .model import ForecastModel, recursive_forecast
from .plan import activate_series, apply_plan
from .reuse import (
    LastFullFit,
    StoredResults,
    full_fit_key,
    history_digest,
    result_key,
    reusable_base,
    stored,
)
from .training import TrainingSet

logger = logging.getLogger(__name__)

FORECAST_COLUMNS = {
    "run_id": "str",
    "model_version": "str",
    "origin_week": "datetime64[ns]",
    "target_week": "datetime64[ns]",
    "horizon": "int64",
    "store_code": "str",
    "product_code": "str",
    "forecast_units": "float64",
    "forecast_p10": "float64",
    "forecast_p90": "float64",
    "created_at": "str",
}
BACKTEST_COLUMNS = {
    "run_id": "str",
    "model_version": "str",
    "method": "str",
    "horizon": "int64",
    "category": "str",
    "wape": "float64",
    "bias": "float64",
    "mase": "float64",
    "n_cells": "int64",
    "first_origin_week": "datetime64[ns]",
    "last_origin_week": "datetime64[ns]",
}


def _typed(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    return frame[list(dtypes)].astype(dict(dtypes)).reset_index(drop=True)


def _version_extra(p: ForecastingParams) -> dict[str, Any]:
    """Settings besides LightGBM's and the features' that make a model version (model.compute_model_version)."""
    return {"train_weeks": p.train_weeks, "refit": p.refit.model_dump()}


def _training_set(feature_set: FeatureSet, p: ForecastingParams) -> TrainingSet:
    return TrainingSet(feature_set, p.train_weeks, p.target_scale)


# ------------------------------------------------------------------------------------------------- training


def train_forecast_model(
    feature_set: FeatureSet,
    stored_forecast_models: StoredResults,
    stored_full_fits: StoredResults,
    params: ForecastingParams,
) -> tuple[ForecastModel, dict[str, ForecastModel], dict[str, LastFullFit]]:
    """Kedro node: the production model, trained on every week of the feature set.

    Returns the model, the model to store under its content key, and the full fit to store for the refit
    schedule (both empty when nothing new was fitted).
    """
    p = ForecastingParams.of(params, "forecasting")
    key = result_key("forecast_model", feature_set, p)
    model = stored(stored_forecast_models, key)
    if model is not None:
        return model, {}, {}
    training = _training_set(feature_set, p)
    last = len(feature_set.panel.weeks) - 1
    base_key = full_fit_key(feature_set, p)
    base = reusable_base(stored(stored_full_fits, base_key), feature_set, p.refit)
    if base is not None:
        model = training.fit(last, p.lightgbm, _version_extra(p), base, p.refit.refresh_rounds)
        return model, {key: model}, {}
    model = training.fit(last, p.lightgbm, _version_extra(p))
    full_fits = {}
    if p.refit.refresh_rounds > 0:
        full_fits[base_key] = LastFullFit(model, history_digest(feature_set.panel, last))
    return model, {key: model}, full_fits


# ------------------------------------------------------------------------------------------------- backtest


def backtest_forecast(
    feature_set: FeatureSet,
    stored_backtest_cells: StoredResults,
    run_context: Mapping[str, Any],
    params: ForecastingParams,
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame, dict[str, Any], dict[str, pd.DataFrame]]:
    """Kedro node: rolling-origin backtest (see backtest.py) -> metrics, what was written (for the gate and the
    report, which read the metrics back), cells, interval calibration, and the cells to store under their
    content key (empty when they were read back).

    Metrics rows: per method x horizon x category, per method x horizon over all categories (category
    'ALL'), and per method over all horizons (horizon 0) per category and for 'ALL'.
    """
    p = ForecastingParams.of(params, "forecasting")
    b = p.backtest
    panel = feature_set.panel
    origins = origin_columns(panel, b.origins)
    training = _training_set(feature_set, p)
    key = result_key("backtest_cells", feature_set, p)
    cells = stored(stored_backtest_cells, key)
    to_store = {}
    if cells is None:
        plan_rule = p.plan_rule if b.plan == "rule" else None
        cells, _ = run_backtest(
            panel, training, origins, b.horizon, p.lightgbm, b.moving_average_weeks, None, plan_rule, p.refit
        )
        to_store[key] = cells
    run_id = str(run_context["run_id"])
    metrics = backtest_metrics_table(cells)
    metrics["run_id"] = run_id
    metrics["model_version"] = training.model_version(p.lightgbm, _version_extra(p))
    metrics["first_origin_week"] = panel.weeks[origins[0]]
    metrics["last_origin_week"] = panel.weeks[origins[-1]]
    model_cells = cells[cells["method"] == MODEL_METHOD]
    calibration = intervals.calibrate(model_cells, p.intervals.lower, p.intervals.upper)
    calibration["run_id"] = run_id
    corrected = intervals.correct(model_cells["forecast"], calibration)
    p10, p90 = intervals.apply(corrected, model_cells["horizon"], calibration)
    calibration["backtest_coverage"] = intervals.coverage(model_cells["actual"].to_numpy(), p10, p90)
    status = {"run_id": run_id, "table": "forecast.backtest_metrics", "rows": int(len(metrics))}
    return _typed(metrics, BACKTEST_COLUMNS), status, cells.assign(run_id=run_id), calibration, to_store


def backtest_metrics_table(cells: pd.DataFrame) -> pd.DataFrame:
    everything = cells.assign(category=gate.ALL)
    all_horizons = cells.assign(horizon=0)
    frames = [
        score(cells, ["method", "horizon", "category"]),
        score(everything, ["method", "horizon", "category"]),
        score(all_horizons, ["method", "horizon", "category"]),
        score(everything.assign(horizon=0), ["method", "horizon", "category"]),
    ]
    return pd.concat(frames, ignore_index=True).drop(columns="actual")


# ---------------------------------------------------------------------------------------------- forecasting


def forecast_next_weeks(
    forecast_model: ForecastModel,
    feature_set: FeatureSet,
    promo_plan: pd.DataFrame | None,
    interval_calibration: Mapping[str, Any],
    run_context: Mapping[str, Any],
    params: ForecastingParams,
) -> pd.DataFrame:
    """Kedro node: forecasts of the ``horizon`` weeks after the panel's last week for the active series.

    Future prices and promotions: ``promo_plan`` where it has them, the plan rule elsewhere (plan.py).
    Level correction and intervals: the backtest's calibration (intervals.py); ``forecast_units`` is the
    model's forecast times the calibration's ``scale``.
    """
    p = ForecastingParams.of(params, "forecasting")
    horizon = p.horizon
    origin = len(feature_set.panel.weeks) - 1
    wp = feature_set.panel.extended(horizon)
    rows = activate_series(wp, origin, p.active_weeks)
    if len(rows) == 0:
        return _typed(pd.DataFrame(columns=list(FORECAST_COLUMNS)), FORECAST_COLUMNS)
    apply_plan(wp, origin, horizon, rows, promo_plan, p.plan_rule)
    point = recursive_forecast(forecast_model, wp, origin, horizon, rows)
    h = np.tile(np.arange(1, horizon + 1), len(rows))
    units = intervals.correct(point.reshape(-1), interval_calibration)
    p10, p90 = intervals.apply(units, h, interval_calibration)
    out = pd.DataFrame(
        {
            "store_code": np.repeat(wp.series["store_code"].to_numpy()[rows], horizon),
            "product_code": np.repeat(wp.series["product_code"].to_numpy()[rows], horizon),
            "horizon": h,
            "target_week": wp.weeks[origin + h],
            "forecast_units": units,
            "forecast_p10": p10,
            "forecast_p90": p90,
        }
    )
    out["run_id"] = str(run_context["run_id"])
    out["model_version"] = forecast_model.model_version
    out["origin_week"] = wp.weeks[origin]
    out["created_at"] = str(run_context["started_at"])
    return _typed(out.sort_values([*SERIES_KEYS, "horizon"]), FORECAST_COLUMNS)


def write_forecasts(
    forecast_frame: pd.DataFrame, run_context: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Hand the forecasts to the forecast table and say what was written, for the publish stage to wait on."""
    status = {
        "run_id": run_context["run_id"],
        "table": "forecast.forecasts",
        "rows": int(len(forecast_frame)),
        "series": int(forecast_frame[list(SERIES_KEYS)].drop_duplicates().shape[0]),
        "origin_week": str(forecast_frame["origin_week"].max().date()) if len(forecast_frame) else None,
        "model_version": str(forecast_frame["model_version"].iloc[0]) if len(forecast_frame) else None,
    }
    return forecast_frame, status


# ---------------------------------------------------------------------------------------------- quality gate


def evaluate_quality_gate(
    this_run_backtest_metrics: pd.DataFrame,
    backtest_write_status: Mapping[str, Any],
    published_model_runs: pd.DataFrame,
    forecast_model: ForecastModel,
    run_context: Mapping[str, Any],
    params: ForecastingParams,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Kedro node: the gate's decision (``quality_gate_status``) and this run's row of forecast.model_runs.

    ``this_run_backtest_metrics``: this run's rows of the metrics table; ``published_model_runs``: the last
    published run before this one (the catalog's queries select them).
    """
    p = ForecastingParams.of(params, "forecasting")
    backtest_metrics = _as_written(this_run_backtest_metrics, backtest_write_status, run_context)
    status = gate.evaluate(
        backtest_metrics,
        published_model_runs,
        str(run_context["run_id"]),
        MODEL_METHOD,
        p.quality_gate.margin,
        p.quality_gate.last_published_margin,
    )
    row = gate.model_run_row(
        status,
        backtest_metrics,
        forecast_model.model_version,
        str(run_context["started_at"]),
        forecast_model.trained_until,
        MODEL_METHOD,
    )
    return status, row


# -------------------------------------------------------------------------------------------------- report


def build_forecast_report(
    model_panel: pd.DataFrame,
    backtest_cells: pd.DataFrame,
    this_run_backtest_metrics: pd.DataFrame,
    backtest_write_status: Mapping[str, Any],
    forecast_frame: pd.DataFrame,
    quality_gate_status: Mapping[str, Any],
    forecast_model: ForecastModel,
    run_context: Mapping[str, Any],
):
    """Kedro node: the two plotly charts and the run's HTML report ({run_id: html})."""
    backtest_metrics = _as_written(this_run_backtest_metrics, backtest_write_status, run_context)
    chart = report.forecast_chart(model_panel, backtest_cells, forecast_frame)
    metrics = report.backtest_chart(backtest_metrics)
    html = report.html_report(
        [chart, metrics], quality_gate_status, run_context, forecast_model.model_version
    )
    return chart, metrics, {str(run_context["run_id"]): html}


def _as_written(
    metrics: pd.DataFrame, write_status: Mapping[str, Any], run_context: Mapping[str, Any]
) -> pd.DataFrame:
    """This run's metrics as read back; refused unless they are the rows the backtest wrote for this run."""
    run_id = str(run_context["run_id"])
    if str(write_status["run_id"]) != run_id or len(metrics) != int(write_status["rows"]):
        raise ValueError(
            f"backtest metrics of run {run_id}: read {len(metrics)} rows back, the backtest of run "
            f"{write_status['run_id']} wrote {write_status['rows']} (do the catalog's run_id and the run's agree?)"
        )
    return metrics
