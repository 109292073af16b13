"""The LightGBM models over the store x product series of each source and their recursive multi-week forecast.

One model per source (``ModelSet``: each source's settings are its own, forecasting/selection.py), one model for
every horizon: step h predicts week origin+h from features whose units of weeks origin+1 .. origin+h-1 are the
forecasts of the earlier steps (recursive). Prices and promotions of future weeks come from the panel's plan
columns (``WidePanel.exog``), which the plan rule fills where no plan was given. Each step computes the
features of its own week only, from the ``history_weeks`` weeks the feature engine needs, once for every
source; each source's model reads its own columns of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sellout.config.model_parameters import IDENTITY_LINK_OBJECTIVES, LOG_LINK_OBJECTIVES, LightGBMParams
from sellout.pipelines.features.engine import FeatureEngine, ForecastWindow
from sellout.pipelines.features.wide import WidePanel

from .target_scale import TargetScale

if TYPE_CHECKING:  # LightGBM is imported where a model is fitted (training.py), not when the registry loads
    import lightgbm as lgb


def lgbm_train_params(lightgbm: LightGBMParams | Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """``lightgbm.train`` parameters and the number of boosting rounds of ``forecasting.lightgbm``."""
    p = LightGBMParams.of(lightgbm, "forecasting.lightgbm")
    params = {
        "objective": p.objective,
        "learning_rate": p.learning_rate,
        "num_leaves": p.num_leaves,
        "min_data_in_leaf": p.min_child_samples,
        "feature_fraction": p.feature_fraction,
        "bagging_fraction": p.bagging_fraction,
        "bagging_freq": p.bagging_freq,
        "lambda_l2": p.lambda_l2,
        "max_bin": p.max_bin,
        "num_threads": p.num_threads,
        "seed": p.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    if p.objective == "tweedie":
        params["tweedie_variance_power"] = p.tweedie_variance_power
    if p.objective == "huber":
        params["alpha"] = p.huber_delta  # LightGBM's name for Huber's delta
    params.update(p.extra)
    return params, p.n_estimators


@dataclass
class ForecastModel:
    """A fitted model with what it needs to forecast again (picklable): its feature engine among them."""

    booster: lgb.Booster
    engine: FeatureEngine
    lgbm_params: dict[str, Any]
    n_estimators: int
    model_version: str
    trained_until: pd.Timestamp
    n_train_rows: int
    target_scale: TargetScale | None = None
    # A refreshed model: ``booster`` is the base (fitted in full up to ``base_trained_until``) and ``refresh``
    # the rounds fitted on top of it on the data up to ``trained_until`` (see TrainingSet.fit).
    refresh: lgb.Booster | None = None
    base_trained_until: pd.Timestamp | None = None
    # The engine columns the model reads (None: all of them), in the engine's order.
    columns: tuple[str, ...] | None = None

    @property
    def features(self) -> list[str]:
        return list(self.columns) if self.columns is not None else self.engine.columns

    def select(self, x: np.ndarray) -> np.ndarray:
        """The model's columns of an engine matrix ``x`` (all of ``engine.columns``)."""
        if self.columns is None:
            return x
        index = [self.engine.columns.index(c) for c in self.columns]
        return x[:, index]

    def predict_engine_matrix(self, x: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Units forecast for each row of an engine matrix ``x``."""
        return self.predict_matrix(self.select(x), num_threads)

    def predict_matrix(self, x: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Units forecast for each row of features ``x`` (columns in ``features`` order); ``num_threads``:
        LightGBM's threads instead of the model's setting (beside fits on their own threads, parallel.py)."""
        if self.target_scale is None:
            return np.clip(self._predict(x, num_threads), 0.0, None)
        scaled, level = self.target_scale.scale_features(x, self.features)
        return np.clip(self._predict(scaled, num_threads), 0.0, None) * level

    def _predict(self, x: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        threads = self.lgbm_params["num_threads"] if num_threads is None else num_threads
        if self.refresh is None:
            return self.booster.predict(x, num_threads=threads)
        raw = self.booster.predict(x, raw_score=True, num_threads=threads)
        raw += self.refresh.predict(x, raw_score=True, num_threads=threads)
        return from_raw(self.lgbm_params["objective"], raw)

    def raw_scores(self, x: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """The base booster's raw scores (before the objective's link) for already scaled features ``x``."""
        threads = self.lgbm_params["num_threads"] if num_threads is None else num_threads
        return self.booster.predict(x, raw_score=True, num_threads=threads)


def has_known_link(objective: str) -> bool:
    return objective in LOG_LINK_OBJECTIVES or objective in IDENTITY_LINK_OBJECTIVES


def to_raw(objective: str, prediction: np.ndarray) -> np.ndarray:
    if objective in LOG_LINK_OBJECTIVES:
        return np.log(np.maximum(prediction, 1e-300))
    if objective in IDENTITY_LINK_OBJECTIVES:
        return np.asarray(prediction, dtype="float64")
    raise ValueError(f"forecasting.refit needs an objective with a known link, not {objective!r}")


def from_raw(objective: str, raw: np.ndarray) -> np.ndarray:
    if objective in LOG_LINK_OBJECTIVES:
        return np.exp(raw)
    if objective in IDENTITY_LINK_OBJECTIVES:
        return raw
    raise ValueError(f"forecasting.refit needs an objective with a known link, not {objective!r}")


def compute_model_version(
    train_params: Mapping[str, Any], n_estimators: int, features: list[str], extra
) -> str:
    """``lgbm-<8 hex>``: identifies the configuration (parameters, features), not the training data."""
    payload = json.dumps(
        {"lgbm": dict(train_params), "rounds": n_estimators, "features": features, "extra": extra},
        sort_keys=True,
        default=str,
    )
    return "lgbm-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:8]


def combined_version(versions: Mapping[str, str]) -> str:
    """The one source's model version, or ``lgbm-<8 hex>`` over every source's."""
    if len(versions) == 1:
        return next(iter(versions.values()))
    payload = json.dumps(dict(sorted(versions.items())))
    return "lgbm-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:8]


@dataclass
class ModelSet:
    """The model of each source (``models``: source -> model; all share one feature engine) and the settings
    each was fitted with (``settings``: source -> what selection.py chose and where its known inputs come
    from). What production forecasts with, and what the backtest fits at each origin (picklable)."""

    models: dict[str, ForecastModel]
    settings: dict[str, dict[str, Any]]

    @property
    def engine(self) -> FeatureEngine:
        return next(iter(self.models.values())).engine

    @property
    def model_version(self) -> str:
        return combined_version({source: m.model_version for source, m in self.models.items()})

    @property
    def trained_until(self) -> pd.Timestamp:
        return max(m.trained_until for m in self.models.values())

    @property
    def refreshed(self) -> bool:
        return any(m.refresh is not None for m in self.models.values())

    @property
    def n_train_rows(self) -> int:
        return sum(m.n_train_rows for m in self.models.values())

    def rows_by_model(self, panel: WidePanel, rows: np.ndarray) -> list[tuple[ForecastModel, np.ndarray]]:
        """Each model with the positions (into ``rows``) of the series of its source."""
        sources = panel.sources[rows]
        out = []
        for source, model in self.models.items():
            positions = np.flatnonzero(sources == source)
            if len(positions):
                out.append((model, positions))
        unknown = sorted(set(sources) - set(self.models))
        if unknown:
            raise ValueError(
                f"no model for the series of source(s) {unknown}: fit the model set on this panel"
            )
        return out


def recursive_forecast(
    model: ForecastModel | ModelSet,
    panel: WidePanel,
    origin_col: int,
    horizon: int,
    rows: np.ndarray,
    num_threads: int | None = None,
) -> np.ndarray:
    """Forecasts (len(rows) x horizon) of weeks origin+1 .. origin+horizon for the given series rows.

    ``panel`` must have week columns up to origin+horizon, with their plan in ``exog``. Units after the origin
    are ignored (they are what is being forecast); ``panel`` is not changed. ``num_threads``: LightGBM's
    threads instead of the models' setting.
    """
    parts = (
        model.rows_by_model(panel, rows) if isinstance(model, ModelSet) else [(model, np.arange(len(rows)))]
    )
    window = ForecastWindow(model.engine, panel, origin_col, horizon)
    out = np.empty((len(rows), horizon))
    for step in range(1, horizon + 1):
        x = window.features(step, rows)
        for part, positions in parts:
            out[positions, step - 1] = part.predict_engine_matrix(x[positions], num_threads)
        window.record(step, rows, out[:, step - 1])
    return window.in_units(rows, out)
