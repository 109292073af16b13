"""Forecasting nodes: train, backtest, forecast, quality gate, report.

The model, the backtest protocol, the plan rule and the intervals live in model.py, backtest.py, plan.py and
intervals.py; these functions adapt them to the Kedro datasets (see their docstrings for the rules).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sellout.pipelines.features.wide import SERIES_KEYS, WEEK, to_wide

from . import gate, intervals, report
from .backtest import MODEL_METHOD, origin_columns, run_backtest, score
from .memo import Memo, fingerprint
from .model import (
    DEFAULT_LGBM,
    ForecastModel,
    TrainingSet,
    has_known_link,
    lgbm_train_params,
    recursive_forecast,
)
from .plan import activate_series, apply_plan
from .refit import RefitSchedule

logger = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, Any] = {
    "horizon": 8,
    "active_weeks": 4,
    "train_weeks": None,
    "target_scale": None,
    "plan_rule": "last_base_price",
    "backtest": {"origins": 13, "horizon": 4, "moving_average_weeks": 4, "plan": "actual"},
    "intervals": {"lower": 0.1, "upper": 0.9},
    "quality_gate": {"margin": 0.0, "last_published_margin": 0.02},
    "lightgbm": {},
    "memo_dir": None,
    "refit": {},
}

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


def resolve_forecast_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    p = {**DEFAULT_PARAMS, **(params or {})}
    for block in ("backtest", "intervals", "quality_gate"):
        p[block] = {**DEFAULT_PARAMS[block], **dict((params or {}).get(block) or {})}
    p["lightgbm"] = {**DEFAULT_LGBM, **dict(p.get("lightgbm") or {})}
    for key in ("horizon", "active_weeks"):
        if int(p[key]) < 1:
            raise ValueError(f"forecasting.{key} must be >= 1, got {p[key]!r}")
    for key in ("origins", "horizon", "moving_average_weeks"):
        if int(p["backtest"][key]) < 1:
            raise ValueError(f"forecasting.backtest.{key} must be >= 1, got {p['backtest'][key]!r}")
    schedule = RefitSchedule.from_params(p["refit"])  # refuses bad settings before any fitting
    objective = lgbm_train_params(p["lightgbm"])[0]["objective"]
    if schedule.refresh_rounds > 0 and not has_known_link(objective):
        raise ValueError(
            f"forecasting.refit.refresh_rounds needs a LightGBM objective whose link is known (tweedie, poisson, "
            f"gamma or a regression objective), not {objective!r}; set refresh_rounds: 0"
        )
    if p["backtest"]["plan"] not in ("actual", "rule"):
        raise ValueError(
            f"forecasting.backtest.plan must be 'actual' or 'rule', got {p['backtest']['plan']!r}"
        )
    return p


def _typed(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    return frame[list(dtypes)].astype(dict(dtypes)).reset_index(drop=True)


# ------------------------------------------------------------------------------------------------- training


def train_forecast_model(
    model_features: pd.DataFrame,
    model_panel: pd.DataFrame,
    params: Mapping[str, Any] | None,
    feature_params: Mapping[str, Any] | None,
) -> ForecastModel:
    """Kedro node: the production model, trained on every week of ``model_features``."""
    p = resolve_forecast_params(params)
    wp = to_wide(model_panel)

    schedule = RefitSchedule.from_params(p["refit"])
    memo = Memo(p["memo_dir"])
    base_key = fingerprint({}, _memo_params(p, feature_params))
    extra_version = _version_extra(p)

    def fit() -> ForecastModel:
        training = TrainingSet.from_frame(
            model_features, wp, feature_params, p["train_weeks"], target_scale=p["target_scale"]
        )
        last = len(wp.weeks) - 1
        base = _reusable_base(memo.get("forecast_base", base_key), wp, model_panel, schedule)
        if base is not None:
            return training.fit(last, p["lightgbm"], extra_version, base, schedule.refresh_rounds)
        model = training.fit(last, p["lightgbm"], extra_version)
        if schedule.refresh_rounds > 0:
            history = _history_fingerprint(model_panel, model.trained_until)
            memo.put("forecast_base", base_key, {"model": model, "history": history})
        return model

    key = fingerprint(
        {"model_features": model_features, "model_panel": model_panel}, _memo_params(p, feature_params)
    )
    return memo.get_or_compute("forecast_model", key, fit)


def _version_extra(p: Mapping[str, Any]) -> dict[str, Any]:
    """Settings besides LightGBM's and the features' that make a model version (model.compute_model_version)."""
    return {
        "train_weeks": p["train_weeks"],
        "refit": dataclasses.asdict(RefitSchedule.from_params(p["refit"])),
    }


def _reusable_base(stored, wp, model_panel: pd.DataFrame, schedule: RefitSchedule) -> ForecastModel | None:
    """The last fully fitted model if the schedule refreshes it now and the history it saw is unchanged."""
    if not stored:
        return None
    base: ForecastModel = stored["model"]
    weeks_since = int((wp.weeks[-1] - base.trained_until) / pd.Timedelta(weeks=1))
    if not schedule.refreshes(weeks_since):
        return None
    if stored["history"] != _history_fingerprint(model_panel, base.trained_until):
        logger.info("the weeks up to %s changed since the last full fit: fitting in full", base.trained_until)
        return None
    return base


def _history_fingerprint(model_panel: pd.DataFrame, until: pd.Timestamp) -> str:
    return fingerprint({"model_panel": model_panel[pd.to_datetime(model_panel[WEEK]) <= until]}, {})


def _memo_params(p: Mapping[str, Any], feature_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a stored result depends on besides the input frames (everything but where it is stored)."""
    return {"forecasting": {k: v for k, v in p.items() if k != "memo_dir"}, "features": feature_params}


# ------------------------------------------------------------------------------------------------- backtest


def backtest_forecast(
    model_panel: pd.DataFrame,
    run_context: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    feature_params: Mapping[str, Any] | None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Kedro node: rolling-origin backtest (see backtest.py) -> metrics, cells, interval calibration.

    Metrics rows: per method x horizon x category, per method x horizon over all categories (category
    'ALL'), and per method over all horizons (horizon 0) per category and for 'ALL'.
    """
    p = resolve_forecast_params(params)
    b = p["backtest"]
    wp = to_wide(model_panel)
    origins = origin_columns(wp, int(b["origins"]))
    training = TrainingSet.from_panel(wp, feature_params, p["train_weeks"], target_scale=p["target_scale"])
    plan_rule = p["plan_rule"] if b["plan"] == "rule" else None
    key = fingerprint({"model_panel": model_panel}, _memo_params(p, feature_params))
    cells = Memo(p["memo_dir"]).get_or_compute(
        "backtest_cells",
        key,
        lambda: run_backtest(
            wp,
            training,
            origins,
            int(b["horizon"]),
            p["lightgbm"],
            int(b["moving_average_weeks"]),
            plan_rule=plan_rule,
            refit=p["refit"],
        )[0],
    )
    version = training.model_version(p["lightgbm"], _version_extra(p))
    metrics = backtest_metrics_table(cells)
    metrics["run_id"] = str(run_context["run_id"])
    metrics["model_version"] = version
    metrics["first_origin_week"] = wp.weeks[origins[0]]
    metrics["last_origin_week"] = wp.weeks[origins[-1]]
    model_cells = cells[cells["method"] == MODEL_METHOD]
    calibration = intervals.calibrate(
        model_cells, float(p["intervals"]["lower"]), float(p["intervals"]["upper"])
    )
    calibration["run_id"] = str(run_context["run_id"])
    corrected = intervals.correct(model_cells["forecast"], calibration)
    p10, p90 = intervals.apply(corrected, model_cells["horizon"], calibration)
    calibration["backtest_coverage"] = intervals.coverage(model_cells["actual"].to_numpy(), p10, p90)
    cells = cells.assign(run_id=str(run_context["run_id"]))
    return _typed(metrics, BACKTEST_COLUMNS), cells, calibration


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
    model_panel: pd.DataFrame,
    promo_plan: pd.DataFrame | None,
    interval_calibration: Mapping[str, Any],
    run_context: Mapping[str, Any],
    params: Mapping[str, Any] | None,
) -> pd.DataFrame:
    """Kedro node: forecasts of the ``horizon`` weeks after the panel's last week for the active series.

    Future prices and promotions: ``promo_plan`` where it has them, the plan rule elsewhere (plan.py).
    Level correction and intervals: the backtest's calibration (intervals.py); ``forecast_units`` is the
    model's forecast times the calibration's ``scale``.
    """
    p = resolve_forecast_params(params)
    if model_panel.empty:
        return _typed(pd.DataFrame(columns=list(FORECAST_COLUMNS)), FORECAST_COLUMNS)
    horizon = int(p["horizon"])
    wp = to_wide(model_panel)
    origin = len(wp.weeks) - 1
    wp = wp.extended(horizon)
    rows = activate_series(wp, origin, int(p["active_weeks"]))
    if len(rows) == 0:
        return _typed(pd.DataFrame(columns=list(FORECAST_COLUMNS)), FORECAST_COLUMNS)
    apply_plan(wp, origin, horizon, rows, promo_plan, p["plan_rule"])
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
        "series": int(forecast_frame[SERIES_KEYS].drop_duplicates().shape[0]),
        "origin_week": str(forecast_frame["origin_week"].max().date()) if len(forecast_frame) else None,
        "model_version": str(forecast_frame["model_version"].iloc[0]) if len(forecast_frame) else None,
    }
    return forecast_frame, status


# ---------------------------------------------------------------------------------------------- quality gate


def this_run(table: pd.DataFrame, run_context: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of this run: a table dataset loads every run's rows."""
    return table[table["run_id"] == str(run_context["run_id"])]


def evaluate_quality_gate(
    backtest_metrics: pd.DataFrame,
    published_model_runs: pd.DataFrame,
    forecast_model: ForecastModel,
    model_panel: pd.DataFrame,
    run_context: Mapping[str, Any],
    params: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Kedro node: the gate's decision (``quality_gate_status``) and this run's row of forecast.model_runs."""
    backtest_metrics = this_run(backtest_metrics, run_context)
    p = resolve_forecast_params(params)
    g = p["quality_gate"]
    status = gate.evaluate(
        backtest_metrics,
        published_model_runs,
        str(run_context["run_id"]),
        MODEL_METHOD,
        float(g["margin"]),
        float(g["last_published_margin"]),
    )
    row = gate.model_run_row(
        status,
        backtest_metrics,
        forecast_model.model_version,
        str(run_context["started_at"]),
        pd.Timestamp(model_panel[WEEK].max()),
        MODEL_METHOD,
    )
    return status, row


# -------------------------------------------------------------------------------------------------- report


def build_forecast_report(
    model_panel: pd.DataFrame,
    backtest_cells: pd.DataFrame,
    backtest_metrics: pd.DataFrame,
    forecast_frame: pd.DataFrame,
    quality_gate_status: Mapping[str, Any],
    forecast_model: ForecastModel,
    run_context: Mapping[str, Any],
):
    """Kedro node: the two plotly charts and the run's HTML report ({run_id: html})."""
    backtest_metrics = this_run(backtest_metrics, run_context)
    chart = report.forecast_chart(model_panel, backtest_cells, forecast_frame)
    metrics = report.backtest_chart(backtest_metrics)
    html = report.html_report(
        [chart, metrics], quality_gate_status, run_context, forecast_model.model_version
    )
    return chart, metrics, {str(run_context["run_id"]): html}
