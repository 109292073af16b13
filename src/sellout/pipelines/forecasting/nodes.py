"""Forecasting nodes: choose the settings, train, backtest, forecast, quality gate, report.

Every node reads the features stage's ``feature_set`` (the panel as matrices, the feature engine, the training
rows); the settings chosen per source (selection.py, ``model_settings``), the models (model.py, training.py,
segments.py), the backtest protocol, the plan rule and the intervals live in their modules, and these
functions adapt them to the Kedro datasets. The train and backtest nodes look their result up in the stored
results first (reuse.py) and hand new ones to the catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sellout.canonical import SERIES_KEYS, UNITS, WEEK
from sellout.config.model_parameters import ForecastingParams
from sellout.config.run import run_file_name
from sellout.pipelines.features.feature_set import FeatureSet

from . import gate, intervals, report
from .backtest import MODEL_METHOD, origin_columns, run_backtest
from .metrics import backtest_metrics_table
from .model import ModelSet
from .production import ProductionForecast, production_forecast
from .reuse import (
    LastFullFit,
    StoredResults,
    full_fit_entry,
    full_fit_key,
    last_full_fit,
    result_key,
    reusable_base,
    schedule_key,
    stored,
)
from .segments import SourceTrainings, source_rows
from .selection import choose_settings

logger = logging.getLogger(__name__)

FORECAST_COLUMNS = {
    "run_id": "str",
    "model_version": "str",
    "origin_week": "datetime64[ns]",
    "target_week": "datetime64[ns]",
    "horizon": "int64",
    "store_code": "str",
    "product_code": "str",
    "measure": "str",
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
    "measure": "str",
    "segment": "str",
    "wape": "float64",
    "bias": "float64",
    "mase": "float64",
    "n_cells": "int64",
    "first_origin_week": "datetime64[ns]",
    "last_origin_week": "datetime64[ns]",
}


def _typed(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    return frame[list(dtypes)].astype(dict(dtypes)).reset_index(drop=True)


def _plan_key(promo_plan: pd.DataFrame | None, p: ForecastingParams, feature_set: FeatureSet) -> Any:
    """What of the promo plan a result depends on: all of it if a source takes its inputs from a plan."""
    sources = source_rows(feature_set.panel)
    if promo_plan is None or promo_plan.empty or all(p.known_inputs_of(s) != "plan" for s in sources):
        return None
    return pd.util.hash_pandas_object(promo_plan, index=False).sum().item()


def _production_key(feature_set: FeatureSet, promo_plan: pd.DataFrame | None, p: ForecastingParams) -> str:
    """What production's forecasts are made from: a forecast handed over for other data, parameters or plan is
    made again."""
    return result_key("production_forecast", feature_set, p, _plan_key(promo_plan, p, feature_set))


# ------------------------------------------------------------------------------------------------ settings


def choose_model_settings(
    feature_set: FeatureSet,
    stored_full_fits: StoredResults,
    promo_plan: pd.DataFrame | None,
    params: ForecastingParams,
) -> dict[str, dict[str, Any]]:
    """Kedro node: the settings of each source's model (``model_settings``): chosen on a validation window
    before the backtest's when the model is fitted in full, those of the last full fit when it is refreshed
    (or when this panel is the one it was fitted on: a rerun)."""
    p = ForecastingParams.of(params, "forecasting")
    last = last_full_fit(stored_full_fits, full_fit_key(feature_set, p), feature_set.panel.weeks[-1])
    last = reusable_base(last, feature_set, p.refit, same_week=True)
    if last is not None and last.settings:
        return last.settings
    chosen = choose_settings(feature_set, p, promo_plan)
    for source, record in chosen.items():
        logger.info("settings of source %s: %s (%s)", source, record["candidate"], record["reason"])
    return chosen


# ------------------------------------------------------------------------------------------------- training


def train_forecast_model(
    feature_set: FeatureSet,
    model_settings: Mapping[str, Mapping[str, Any]],
    stored_forecast_models: StoredResults,
    stored_full_fits: StoredResults,
    params: ForecastingParams,
) -> tuple[ModelSet, dict[str, ModelSet], dict[str, LastFullFit]]:
    """Kedro node: the production models (one per source), trained on every week of the feature set.

    Returns the model set, the model set to store under its content key, and the full fit to store for the
    refit schedule (both empty when nothing new was fitted).
    """
    p = ForecastingParams.of(params, "forecasting")
    settings = {str(k): dict(v) for k, v in model_settings.items()}
    key = result_key("forecast_model", feature_set, p, settings)
    model = stored(stored_forecast_models, key)
    if model is not None:
        return model, {}, {}
    trainings = SourceTrainings(feature_set, p, settings)
    weeks = feature_set.panel.weeks
    base_key = full_fit_key(feature_set, p)
    base = _stored_base(stored_full_fits, base_key, feature_set, p, settings, len(weeks) - 1, trainings)
    if base is not None:
        model = trainings.fit(len(weeks) - 1, base, p.refit.refresh_rounds)
        return model, {key: model}, {}
    model = trainings.fit(len(weeks) - 1)
    full_fits = {}
    if p.refit.refresh_rounds > 0:
        entry = full_fit_entry(base_key, weeks[-1])
        full_fits[entry] = LastFullFit(model, settings, trainings.base_scores(model))
    return model, {key: model}, full_fits


def _stored_base(
    stored_full_fits: StoredResults,
    key: str,
    feature_set: FeatureSet,
    p: ForecastingParams,
    settings: Mapping[str, Any],
    at_col: int,
    trainings: SourceTrainings,
    same_week: bool = False,
) -> ModelSet | None:
    """The stored full fit that the schedule refreshes at column ``at_col`` (or, with ``same_week``, fitted at
    that very week), with the settings of this run, its kept scores adopted by ``trainings``; None if none."""
    week = feature_set.panel.weeks[at_col]
    last = reusable_base(
        last_full_fit(stored_full_fits, key, week), feature_set, p.refit, at_col=at_col, same_week=same_week
    )
    if last is None or last.settings != settings:
        return None
    fitted = last.model.trained_until.date()
    changed = trainings.adopt(last.model, last.scores)  # a later origin may refresh it
    if last.model.trained_until == week:
        logger.info("the full fit stored at %s is the model of that week", fitted)
        return last.model
    logger.info(
        "refreshing the full fit of %s at %s (%d rows whose features changed since are predicted again)",
        fitted,
        week.date(),
        changed,
    )
    return last.model


# ------------------------------------------------------------------------------------------------- backtest


def backtest_forecast(
    feature_set: FeatureSet,
    model_settings: Mapping[str, Mapping[str, Any]],
    promo_plan: pd.DataFrame | None,
    stored_backtest_forecasts: StoredResults,
    stored_full_fits: StoredResults,
    run_context: Mapping[str, Any],
    params: ForecastingParams,
    preprocessing: Mapping[str, Any] | None = None,
    forecast_model: ModelSet | None = None,
) -> tuple[
    pd.DataFrame, dict[str, Any], pd.DataFrame, dict[str, Any], dict[str, Any], ProductionForecast | None
]:
    """Kedro node: rolling-origin backtest (see backtest.py) -> metrics, what was written (for the gate and the
    report, which read the metrics back), cells, interval calibration, the model's forecasts by origin to
    store (empty when every origin was kept from an earlier run), and production's point forecasts from the
    last week (production.py; None without ``forecast_model``).

    The origins an earlier run forecast with the same code, parameters and settings are kept where what had
    been delivered up to them is unchanged; the others are fitted, the first of them from production's stored
    full fit (``stored_full_fits``) where the schedule refreshes it. The preprocessing parameters
    (``params:preprocessing``: spans, outages) are part of what the kept origins were made with.
    ``forecast_model`` (this run's production model) forecasts from the last week, once: those forecasts are
    published (``forecast_next_weeks``) and kept for the next run, whose last origin this week is, so that a
    new week's backtest fits no model and scores what was published.

    Metrics rows (metrics.py): per method x horizon x category x measure, over all categories (category 'ALL')
    and all horizons (horizon 0), and the promoted / not-promoted cells (segment).
    """
    p = ForecastingParams.of(params, "forecasting")
    b = p.backtest
    panel = feature_set.panel
    origins = origin_columns(panel, b.origins, b.min_training_weeks)
    if len(origins) < b.origins:
        logger.warning(
            "Backtest on %d origins, not %d: the panel has %d weeks, the first origin keeps %d to fit on "
            "(forecasting.backtest.min_training_weeks)",
            len(origins), b.origins, len(panel.weeks), b.min_training_weeks,
        )  # fmt: skip
    settings = {str(k): dict(v) for k, v in model_settings.items()}
    trainings = SourceTrainings(feature_set, p, settings)
    made_with = [settings, _plan_key(promo_plan, p, feature_set), dict(preprocessing or {})]
    key = schedule_key("backtest_forecasts", feature_set, p, made_with)
    kept = stored(stored_backtest_forecasts, key)
    earlier = kept if isinstance(kept, dict) else {}
    fit_key = full_fit_key(feature_set, p)

    def stored_base(col: int) -> ModelSet | None:
        return _stored_base(
            stored_full_fits, fit_key, feature_set, p, settings, col, trainings, same_week=True
        )

    production = (
        production_forecast(
            forecast_model, feature_set, promo_plan, p, _production_key(feature_set, promo_plan, p)
        )
        if forecast_model is not None
        else None
    )
    cells, timings, made = run_backtest(
        panel, trainings, origins, b.horizon, b.moving_average_weeks, _progress(panel, len(origins)),
        promo_plan, p.refit, earlier or None, stored_base, production,
    )  # fmt: skip
    # an origin fitted here, or production's forecasts from the last week added
    fresh = any(earlier.get(week) is not forecasts for week, forecasts in made.items())
    to_store = {key: made} if fresh else {}
    run_id = str(run_context["run_id"])
    metrics = backtest_metrics_table(cells)
    metrics["run_id"] = run_id
    metrics["model_version"] = trainings.model_version()
    metrics["first_origin_week"] = panel.weeks[origins[0]]
    metrics["last_origin_week"] = panel.weeks[origins[-1]]
    model_cells = cells[cells["method"] == MODEL_METHOD]
    calibration = intervals.calibrate_sources(model_cells, p.intervals.lower, p.intervals.upper)
    calibration["run_id"] = run_id
    calibration["backtest_coverage"] = _coverage(model_cells, calibration)
    status = {"run_id": run_id, "table": "forecast.backtest_metrics", "rows": int(len(metrics))}
    # the run id as a categorical of one value: as text it is a string per cell
    cells["run_id"] = pd.Categorical.from_codes(np.zeros(len(cells), dtype="int8"), [run_id])
    return _typed(metrics, BACKTEST_COLUMNS), status, cells, calibration, to_store, production


def _coverage(model_cells: pd.DataFrame, calibration: Mapping[str, Any]) -> float:
    inside = 0
    for source, rows in model_cells.groupby("source", sort=True):
        own = intervals.for_source(calibration, str(source))
        corrected = intervals.correct(rows["forecast"], own)
        p10, p90 = intervals.apply(corrected, rows["horizon"], own)
        actual = rows["actual"].to_numpy()
        inside += int(((actual >= p10) & (actual <= p90)).sum())
    return inside / len(model_cells) if len(model_cells) else float("nan")


# ---------------------------------------------------------------------------------------------- forecasting


def forecast_next_weeks(
    forecast_model: ModelSet,
    feature_set: FeatureSet,
    promo_plan: pd.DataFrame | None,
    interval_calibration: Mapping[str, Any],
    run_context: Mapping[str, Any],
    params: ForecastingParams,
    production: ProductionForecast | None = None,
) -> pd.DataFrame:
    """Kedro node: forecasts of the ``horizon`` weeks after the panel's last week for the active series.

    ``production``: the model's point forecasts that the backtest node made (production.py), else made here;
    future prices and promotions per source as production.py says. Level correction and intervals: the
    backtest's calibration of the source (intervals.py); ``forecast_units`` is the model's forecast times its
    ``scale``, in the series' measure (``measure``: units, or a value-only feed's sales value).
    """
    p = ForecastingParams.of(params, "forecasting")
    horizon = p.horizon
    key = _production_key(feature_set, promo_plan, p)
    made = (
        production
        if production is not None and production.made_by(forecast_model, key)
        else production_forecast(forecast_model, feature_set, promo_plan, p, key)
    )
    rows, panel = made.rows, feature_set.panel
    if len(rows) == 0:
        return _typed(pd.DataFrame(columns=list(FORECAST_COLUMNS)), FORECAST_COLUMNS)
    origin = len(panel.weeks) - 1
    h = np.tile(np.arange(1, horizon + 1), len(rows))
    row_sources = np.repeat(panel.sources[rows], horizon)
    units, p10, p90 = (np.empty(len(h)) for _ in range(3))
    flat = made.point.reshape(-1)
    for source in sorted(set(row_sources)):
        at = row_sources == source
        own = intervals.for_source(interval_calibration, source)
        units[at] = intervals.correct(flat[at], own)
        p10[at], p90[at] = intervals.apply(units[at], h[at], own)
    out = pd.DataFrame(
        {
            "store_code": np.repeat(panel.series["store_code"].to_numpy()[rows], horizon),
            "product_code": np.repeat(panel.series["product_code"].to_numpy()[rows], horizon),
            "measure": np.repeat(panel.measures[rows], horizon),
            "horizon": h,
            "target_week": made.weeks[origin + h],
            "forecast_units": units,
            "forecast_p10": p10,
            "forecast_p90": p90,
        }
    )
    out["run_id"] = str(run_context["run_id"])
    out["model_version"] = forecast_model.model_version
    out["origin_week"] = made.weeks[origin]
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
    forecast_model: ModelSet,
    model_settings: Mapping[str, Mapping[str, Any]],
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
    settings = {
        str(source): {**dict(model_settings.get(source, {})), **forecast_model.settings.get(source, {})}
        for source in forecast_model.models
    }
    status["known_inputs"] = gate.known_inputs_text(settings)
    row = gate.model_run_row(
        status,
        backtest_metrics,
        forecast_model.model_version,
        str(run_context["started_at"]),
        forecast_model.trained_until,
        MODEL_METHOD,
        settings,
    )
    return status, row


# -------------------------------------------------------------------------------------------------- report


def _progress(panel, n_origins: int):
    """A log line per backtest origin (the stage takes minutes on a big panel): which, how far, what it cost."""
    done = []

    def report(timing) -> None:
        done.append(timing)
        week = panel.weeks[timing.origin].date()
        if timing.kind == "kept":
            logger.info("Backtest origin %d of %d (%s): kept from an earlier run", len(done), n_origins, week)
            return
        logger.info("Backtest origin %d of %d (%s): %s in %.1f s", len(done), n_origins, week, timing.kind,
                    timing.wall_seconds)  # fmt: skip

    return report


def build_forecast_report(
    backtest_cells: pd.DataFrame,
    this_run_backtest_metrics: pd.DataFrame,
    backtest_write_status: Mapping[str, Any],
    forecast_frame: pd.DataFrame,
    quality_gate_status: Mapping[str, Any],
    forecast_model: ModelSet,
    model_panel_status: Mapping[str, Any],
    run_context: Mapping[str, Any],
):
    """Kedro node: the two plotly charts, the run's HTML report ({report name: html}) and the plotly.js it reads
    ({script name: source}, beside the reports)."""
    backtest_metrics = _as_written(this_run_backtest_metrics, backtest_write_status, run_context)
    actuals = pd.DataFrame(model_panel_status.get("weekly_units") or [], columns=[WEEK, UNITS])
    actuals[WEEK] = pd.to_datetime(actuals[WEEK])
    chart = report.forecast_chart(actuals, backtest_cells, forecast_frame)
    metrics = report.backtest_chart(backtest_metrics)
    html = report.html_report(
        [chart, metrics],
        quality_gate_status,
        run_context,
        forecast_model.model_version,
        forecast_model.settings,
        model_panel_status,
    )
    return chart, metrics, {run_file_name(run_context["run_id"]): html}, report.plotly_script()


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
