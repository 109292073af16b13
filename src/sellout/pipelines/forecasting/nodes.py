"""Forecasting: a global LightGBM model over all store x product series, recursive multi-week forecasts and a
one-origin holdout backtest against naive baselines.

Conventions:

* origin = the panel's last week (the latest ``week_end_date`` over all series);
* a series is forecast if it is *active*: its last panel week is within the last ``active_weeks`` weeks up to
  the origin. Weeks between an active series' last row and the origin are zero-sales weeks (the panel's rule
  "no row = nothing sold"); series that stopped earlier are treated as delisted and are not forecast;
* future plan (no promotion calendar yet): every future week takes the series' last ``base_price`` as both
  ``price`` and ``base_price``, and all promo flags are False;
* recursion: horizon h uses the forecasts of horizons < h as if they were observed units (lags, rolling
  windows, product mean over stores);
* intervals: relative one-step residuals ``(actual - fitted) / max(fitted, 1)`` measured on the last
  ``interval_calibration_weeks`` weeks by a model fitted without them (in-sample if too little data); their
  lower/upper quantiles are widened by ``sqrt(h)`` and scaled by ``max(forecast, 1)``. The lower quantile is
  capped at 0 and the upper floored at 0 so ``0 <= forecast_p10 <= forecast_units <= forecast_p90`` always
  holds. One-step residuals widened by sqrt(h) are a first approximation of multi-step uncertainty.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from sellout.pipelines.features.nodes import (
    CATEGORICAL_FEATURES,
    add_features,
    feature_columns,
    history_weeks_needed,
    resolve_feature_params,
)

SERIES_KEYS = ["store_code", "product_code"]
WEEK = "week_end_date"
TARGET = "units"
PROMO_FLAGS = ["feature", "display", "tpr_only"]
ONE_WEEK = pd.Timedelta(days=7)
MIN_CALIBRATION_ROWS = 30

DEFAULT_PARAMS: dict[str, Any] = {
    "horizon": 8,
    "active_weeks": 4,
    "backtest_weeks": 4,
    "backtest_plan": "rule",
    "moving_average_weeks": 4,
    "seasonal_lag_threshold": 52,
    "interval_calibration_weeks": 8,
    "interval_lower_quantile": 0.1,
    "interval_upper_quantile": 0.9,
    "objective": "tweedie",
    "tweedie_variance_power": 1.2,
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "num_threads": 1,
    "seed": 42,
    "lgbm_extra_params": {},
}

# Forecasting parameters other than LightGBM's that change the model or its intervals (part of model_version).
VERSIONED_KEYS = (
    "seasonal_lag_threshold",
    "interval_calibration_weeks",
    "interval_lower_quantile",
    "interval_upper_quantile",
)

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
    "method": "str",
    "horizon": "int64",
    "wape": "float64",
    "bias": "float64",
    "n_cells": "int64",
    "origin_week": "datetime64[ns]",
}


@dataclass
class ForecastModel:
    """A fitted model with everything needed to forecast with it again (picklable)."""

    model: lgb.LGBMRegressor
    features: list[str]
    feature_params: dict[str, Any]
    lgbm_params: dict[str, Any]
    model_version: str
    trained_until: pd.Timestamp
    n_train_rows: int
    residual_quantiles: dict[str, float] = field(default_factory=dict)

    def predict(self, features_frame: pd.DataFrame) -> np.ndarray:
        """Point forecasts (>= 0) for rows holding the feature columns."""
        x = _as_model_matrix(features_frame, self.features)
        return np.clip(self.model.predict(x), 0.0, None).astype("float64")


# ----------------------------------------------------------------------------------------------- parameters


def resolve_forecast_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    p = {**DEFAULT_PARAMS, **(params or {})}
    for key in ("horizon", "active_weeks", "backtest_weeks", "moving_average_weeks"):
        if int(p[key]) < 1:
            raise ValueError(f"forecasting.{key} must be >= 1, got {p[key]!r}")
    if p["backtest_plan"] not in ("rule", "actual"):
        raise ValueError(f"forecasting.backtest_plan must be 'rule' or 'actual', got {p['backtest_plan']!r}")
    if not 0.0 < float(p["interval_lower_quantile"]) < 0.5 < float(p["interval_upper_quantile"]) < 1.0:
        raise ValueError("forecasting interval quantiles must satisfy 0 < lower < 0.5 < upper < 1")
    return p


def lgbm_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``lightgbm.LGBMRegressor`` from ``params:forecasting``."""
    kwargs: dict[str, Any] = {
        "objective": str(params["objective"]),
        "n_estimators": int(params["n_estimators"]),
        "learning_rate": float(params["learning_rate"]),
        "num_leaves": int(params["num_leaves"]),
        "min_child_samples": int(params["min_child_samples"]),
        "n_jobs": int(params["num_threads"]),
        "random_state": int(params["seed"]),
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    if kwargs["objective"] == "tweedie":
        kwargs["tweedie_variance_power"] = float(params["tweedie_variance_power"])
    kwargs.update(dict(params.get("lgbm_extra_params") or {}))
    return kwargs


def compute_model_version(
    lgbm_kwargs: Mapping[str, Any],
    features: list[str],
    feature_params: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> str:
    """``lgbm-<8 hex>``: a hash of the model parameters, the feature list, the feature parameters and
    ``extra`` (training-row and interval settings). It identifies the configuration, not the training data."""
    payload = json.dumps(
        {
            "lgbm": dict(lgbm_kwargs),
            "features": list(features),
            "feature_params": dict(feature_params),
            "extra": dict(extra or {}),
        },
        sort_keys=True,
        default=str,
    )
    return "lgbm-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:8]


# ------------------------------------------------------------------------------------------------- training


def train_forecast_model(
    model_features: pd.DataFrame,
    params: Mapping[str, Any] | None,
    feature_params: Mapping[str, Any] | None = None,
) -> ForecastModel:
    """Kedro node: fit the global LightGBM model on ``model_features``.

    Rows lacking any lag shorter than ``seasonal_lag_threshold`` weeks are dropped (series start); longer
    (seasonal) lags may be NaN, LightGBM treats them as missing.
    """
    return _fit(model_features, resolve_forecast_params(params), resolve_feature_params(feature_params))


def _fit(features_frame: pd.DataFrame, p: dict[str, Any], fp: dict[str, Any]) -> ForecastModel:
    features = feature_columns(fp)
    missing = [c for c in [*features, TARGET, WEEK] if c not in features_frame.columns]
    if missing:
        raise ValueError(f"model_features lacks columns {missing}; were they built with the same params?")
    short_lags = [f"lag_{k}" for k in fp["lags"] if k < int(p["seasonal_lag_threshold"])]
    rows = features_frame.dropna(subset=[*short_lags, TARGET])
    if rows.empty:
        raise ValueError("no training rows: every row lacks a short lag (series too short?)")
    x = _as_model_matrix(rows, features)
    y = rows[TARGET].astype("float64").to_numpy()
    kwargs = lgbm_params(p)
    model = lgb.LGBMRegressor(**kwargs)
    model.fit(x, y)

    return ForecastModel(
        model=model,
        features=features,
        feature_params=fp,
        lgbm_params=kwargs,
        model_version=compute_model_version(kwargs, features, fp, {k: p[k] for k in VERSIONED_KEYS}),
        trained_until=pd.Timestamp(rows[WEEK].max()),
        n_train_rows=len(rows),
        residual_quantiles=_residual_quantiles(rows, x, y=y, model=model, kwargs=kwargs, p=p),
    )


def _residual_quantiles(
    rows: pd.DataFrame,
    x: pd.DataFrame,
    *,
    y: np.ndarray,
    model: lgb.LGBMRegressor,
    kwargs: dict[str, Any],
    p: dict[str, Any],
) -> dict[str, float]:
    """Quantiles of relative one-step residuals ``(actual - fitted) / max(fitted, 1)``.

    With ``interval_calibration_weeks`` = n > 0, a second model is fitted without the last n weeks and the
    residuals are measured on those weeks (honest, out of sample); if that leaves fewer than
    ``MIN_CALIBRATION_ROWS`` rows on either side, or n = 0, the in-sample residuals of ``model`` are used.
    """
    n_cal = int(p["interval_calibration_weeks"])
    cutoff = pd.Timestamp(rows[WEEK].max()) - n_cal * ONE_WEEK
    held_out = (rows[WEEK] > cutoff).to_numpy()
    if n_cal > 0 and min(held_out.sum(), (~held_out).sum()) >= MIN_CALIBRATION_ROWS:
        calibration_model = lgb.LGBMRegressor(**kwargs).fit(x[~held_out], y[~held_out])
        fitted = np.clip(calibration_model.predict(x[held_out]), 0.0, None)
        actual = y[held_out]
    else:
        fitted = np.clip(model.predict(x), 0.0, None)
        actual = y
    relative = (actual - fitted) / np.maximum(fitted, 1.0)
    return {
        "lower": min(float(np.quantile(relative, float(p["interval_lower_quantile"]))), 0.0),
        "upper": max(float(np.quantile(relative, float(p["interval_upper_quantile"]))), 0.0),
    }


def _as_model_matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    x = frame[features].copy()
    for col in CATEGORICAL_FEATURES.values():
        if col in x.columns and not isinstance(x[col].dtype, pd.CategoricalDtype):
            x[col] = x[col].astype("category")
    return x


# ----------------------------------------------------------------------------------------------- forecasting


def select_active_history(panel: pd.DataFrame, origin: pd.Timestamp, active_weeks: int) -> pd.DataFrame:
    """History of the active series, each extended with zero-sales weeks up to ``origin``.

    Active = last panel week within the last ``active_weeks`` weeks up to ``origin``. Rows after ``origin``
    are dropped.
    """
    hist = panel[panel[WEEK] <= origin]
    last_week = hist.groupby(SERIES_KEYS, sort=False)[WEEK].transform("max")
    hist = hist[last_week > origin - active_weeks * ONE_WEEK]
    last_rows = hist.sort_values(WEEK).groupby(SERIES_KEYS, sort=False).tail(1)
    gap = ((origin - last_rows[WEEK]) // ONE_WEEK).astype("int64")
    extension = _repeat_after(last_rows, gap.to_numpy())
    extension[TARGET] = 0.0
    extension["sales_value"] = 0.0
    extension["is_filled"] = True
    for flag in PROMO_FLAGS:  # same rule as the panel's grid-filled weeks: price carried, no promo
        extension[flag] = False
    if extension.empty:
        return hist.sort_values([*SERIES_KEYS, WEEK], ignore_index=True)
    return pd.concat([hist, extension], ignore_index=True).sort_values(
        [*SERIES_KEYS, WEEK], ignore_index=True
    )


def build_future_plan(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Rows for the next ``horizon`` weeks of every series in ``history`` (units unknown = NaN).

    Rule: price = base_price = the series' last base_price; feature, display and tpr_only are False.
    """
    last_rows = history.sort_values(WEEK).groupby(SERIES_KEYS, sort=False).tail(1)
    plan = _repeat_after(last_rows, np.full(len(last_rows), int(horizon), dtype="int64"))
    plan[TARGET] = np.nan
    plan["sales_value"] = np.nan
    plan["price"] = plan["base_price"]
    for flag in PROMO_FLAGS:
        plan[flag] = False
    if "is_filled" in plan.columns:
        plan["is_filled"] = False
    return plan.sort_values([*SERIES_KEYS, WEEK], ignore_index=True)


def _repeat_after(last_rows: pd.DataFrame, n_weeks: np.ndarray) -> pd.DataFrame:
    """For each row, ``n`` copies dated 1..n weeks after it (vectorised over series)."""
    rows = last_rows.loc[last_rows.index.repeat(n_weeks)]
    step = rows.groupby(level=0).cumcount().to_numpy() + 1
    rows = rows.reset_index(drop=True)
    rows[WEEK] = (rows[WEEK] + pd.to_timedelta(step * 7, unit="D")).astype("datetime64[ns]")
    return rows


def recursive_forecast(
    model: ForecastModel, history: pd.DataFrame, plan: pd.DataFrame, origin: pd.Timestamp, horizon: int
) -> pd.DataFrame:
    """Forecast horizons 1..``horizon`` step by step, feeding each step's forecasts back as units.

    Returns one row per series and horizon: store_code, product_code, target_week, horizon, forecast_units.
    """
    needed = history_weeks_needed(model.feature_params) + 1
    recent = history[history[WEEK] > origin - needed * ONE_WEEK]
    frame = pd.concat([recent, plan[recent.columns]], ignore_index=True)
    frame = frame.sort_values([*SERIES_KEYS, WEEK], ignore_index=True, kind="mergesort")
    steps = []
    for h in range(1, int(horizon) + 1):
        target = origin + h * ONE_WEEK
        feats = add_features(frame, model.feature_params)  # same row order as ``frame``
        rows = (feats[WEEK] == target).to_numpy()
        pred = model.predict(feats.loc[rows])
        frame.loc[rows, TARGET] = pred
        step = feats.loc[rows, SERIES_KEYS].reset_index(drop=True)
        step["target_week"] = target
        step["horizon"] = h
        step["forecast_units"] = pred
        steps.append(step)
    out = pd.concat(steps, ignore_index=True)
    out["horizon"] = out["horizon"].astype("int64")
    out["target_week"] = out["target_week"].astype("datetime64[ns]")
    return out.sort_values([*SERIES_KEYS, "horizon"], ignore_index=True)


def add_intervals(point: pd.DataFrame, residual_quantiles: Mapping[str, float]) -> pd.DataFrame:
    """Add forecast_p10 / forecast_p90 around ``forecast_units`` (see module docstring)."""
    out = point.copy()
    units = out["forecast_units"].astype("float64").clip(lower=0.0)
    width = np.sqrt(out["horizon"].astype("float64")) * np.maximum(units, 1.0)
    lower = min(float(residual_quantiles.get("lower", 0.0)), 0.0)
    upper = max(float(residual_quantiles.get("upper", 0.0)), 0.0)
    out["forecast_units"] = units
    out["forecast_p10"] = (units + lower * width).clip(lower=0.0).clip(upper=units)
    out["forecast_p90"] = (units + upper * width).clip(lower=units)
    return out


def forecast_next_weeks(
    forecast_model: ForecastModel,
    model_panel: pd.DataFrame,
    run_context: Mapping[str, Any],
    params: Mapping[str, Any] | None,
) -> pd.DataFrame:
    """Kedro node: forecasts of the next ``horizon`` weeks after the panel's last week for active series."""
    p = resolve_forecast_params(params)
    if model_panel.empty:
        return _typed(pd.DataFrame(columns=list(FORECAST_COLUMNS)), FORECAST_COLUMNS)
    origin = pd.Timestamp(model_panel[WEEK].max())
    history = select_active_history(model_panel, origin, int(p["active_weeks"]))
    if history.empty:
        return _typed(pd.DataFrame(columns=list(FORECAST_COLUMNS)), FORECAST_COLUMNS)
    plan = build_future_plan(history, int(p["horizon"]))
    point = recursive_forecast(forecast_model, history, plan, origin, int(p["horizon"]))
    out = add_intervals(point, forecast_model.residual_quantiles)
    out["run_id"] = str(run_context["run_id"])
    out["model_version"] = forecast_model.model_version
    out["origin_week"] = origin
    out["created_at"] = str(run_context["started_at"])
    return _typed(out[list(FORECAST_COLUMNS)], FORECAST_COLUMNS)


# -------------------------------------------------------------------------------------------------- backtest


def backtest_forecast(
    model_panel: pd.DataFrame,
    run_context: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    feature_params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Kedro node: one-origin holdout of the last ``backtest_weeks`` weeks.

    Trains on weeks <= origin (the week before the holdout), forecasts recursively with the same future-plan
    rule as production (``backtest_plan: rule``; ``actual`` uses the holdout's real prices and promos), and
    scores LightGBM, ``naive`` (last week's units) and ``moving_average_<n>`` on the cells (series x week)
    that have an actual row in the panel. err = forecast - actual; wape = sum|err| / sum(actual);
    bias = sum(err) / sum(actual) (NaN if actuals sum to 0).
    """
    p = resolve_forecast_params(params)
    fp = resolve_feature_params(feature_params)
    n_back = int(p["backtest_weeks"])
    weeks = np.sort(model_panel[WEEK].unique())
    short_lags = [k for k in fp["lags"] if k < int(p["seasonal_lag_threshold"])]
    min_weeks = n_back + max(short_lags, default=1) + 2
    if len(weeks) < min_weeks:
        raise ValueError(f"backtest needs at least {min_weeks} weeks in model_panel, found {len(weeks)}")
    origin = pd.Timestamp(weeks[-n_back - 1])

    train_panel = model_panel[model_panel[WEEK] <= origin]
    model = _fit(add_features(train_panel, fp), p, fp)
    history = select_active_history(train_panel, origin, int(p["active_weeks"]))
    plan = build_future_plan(history, n_back)
    if p["backtest_plan"] == "actual":
        plan = _apply_actual_plan(plan, model_panel)

    forecasts = {
        "lightgbm": recursive_forecast(model, history, plan, origin, n_back),
        "naive": _flat_baseline(history, 1, origin, n_back),
        f"moving_average_{int(p['moving_average_weeks'])}": _flat_baseline(
            history, int(p["moving_average_weeks"]), origin, n_back
        ),
    }
    actuals = model_panel.loc[model_panel[WEEK] > origin, [*SERIES_KEYS, WEEK, TARGET]].rename(
        columns={WEEK: "target_week", TARGET: "actual"}
    )
    scored = []
    for method, fc in forecasts.items():
        cells = fc.merge(actuals, on=[*SERIES_KEYS, "target_week"], how="inner")
        cells["method"] = method
        scored.append(cells)
    cells = pd.concat(scored, ignore_index=True)
    cells["err"] = cells["forecast_units"] - cells["actual"]
    cells["abs_err"] = cells["err"].abs()
    agg = (
        cells.groupby(["method", "horizon"], sort=False)
        .agg(
            abs_err=("abs_err", "sum"), err=("err", "sum"), actual=("actual", "sum"), n_cells=("err", "size")
        )
        .reset_index()
    )
    denom = agg["actual"].where(agg["actual"] > 0)
    agg["wape"] = agg["abs_err"] / denom
    agg["bias"] = agg["err"] / denom
    agg["run_id"] = str(run_context["run_id"])
    agg["origin_week"] = origin
    order = {m: i for i, m in enumerate(forecasts)}
    agg = agg.sort_values(["method", "horizon"], key=lambda s: s.map(order) if s.name == "method" else s)
    return _typed(agg[list(BACKTEST_COLUMNS)].reset_index(drop=True), BACKTEST_COLUMNS)


def _flat_baseline(history: pd.DataFrame, window: int, origin: pd.Timestamp, horizon: int) -> pd.DataFrame:
    """Mean of each series' last ``window`` weeks (window=1: naive), repeated for horizons 1..horizon."""
    level = (
        history.groupby(SERIES_KEYS, sort=True).tail(window).groupby(SERIES_KEYS, sort=True)[TARGET].mean()
    )
    base = level.rename("forecast_units").reset_index()
    hs = np.arange(1, horizon + 1, dtype="int64")
    out = base.loc[base.index.repeat(horizon)].reset_index(drop=True)
    out["horizon"] = np.tile(hs, len(base))
    out["target_week"] = (origin + pd.to_timedelta(out["horizon"] * 7, unit="D")).astype("datetime64[ns]")
    return out[[*SERIES_KEYS, "target_week", "horizon", "forecast_units"]]


def _apply_actual_plan(plan: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """Replace the rule's prices and promo flags by the panel's actual ones where the panel has the week."""
    cols = ["price", "base_price", *PROMO_FLAGS]
    actual = panel[[*SERIES_KEYS, WEEK, *cols]]
    merged = plan.merge(actual, on=[*SERIES_KEYS, WEEK], how="left", suffixes=("", "_actual"))
    for col in cols:
        merged[col] = merged[f"{col}_actual"].where(merged[f"{col}_actual"].notna(), merged[col])
        if col in PROMO_FLAGS:
            merged[col] = merged[col].astype(bool)
    return merged[plan.columns]


def _typed(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    return frame.astype(dict(dtypes)).reset_index(drop=True)


def write_forecasts(
    forecast_frame: pd.DataFrame, run_context: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Hand the forecasts to the forecast table and say what was written, for the publish stage to wait on."""
    status = {
        "run_id": run_context["run_id"],
        "table": "forecast.forecasts",
        "rows": int(len(forecast_frame)),
        "series": int(forecast_frame[["store_code", "product_code"]].drop_duplicates().shape[0]),
        "origin_week": str(forecast_frame["origin_week"].max().date()) if len(forecast_frame) else None,
        "model_version": str(forecast_frame["model_version"].iloc[0]) if len(forecast_frame) else None,
    }
    return forecast_frame, status
