"""The global LightGBM model over all store x product series and its recursive multi-week forecast.

One model for every horizon: step h predicts week origin+h from features whose units of weeks origin+1 ..
origin+h-1 are the forecasts of the earlier steps (recursive). Prices and promotions of future weeks come from
the panel's plan columns (``WidePanel.exog``), which the plan rule fills where no plan was given.
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

from sellout.pipelines.features.engine import (
    CategoryVocabulary,
    categorical_columns,
    feature_columns,
    feature_matrices,
    gather,
    resolve_feature_params,
)
from sellout.pipelines.features.wide import WidePanel

from .target_scale import TargetScale

LGBM_KEYS = (
    "objective",
    "tweedie_variance_power",
    "n_estimators",
    "learning_rate",
    "num_leaves",
    "min_child_samples",
    "feature_fraction",
    "bagging_fraction",
    "bagging_freq",
    "lambda_l2",
    "max_bin",
    "num_threads",
    "seed",
)
DEFAULT_LGBM: dict[str, Any] = {
    "objective": "tweedie",
    "tweedie_variance_power": 1.2,
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_child_samples": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
    "lambda_l2": 0.0,
    "max_bin": 255,
    "num_threads": 1,
    "seed": 42,
}


def lgbm_train_params(lightgbm: Mapping[str, Any] | None) -> tuple[dict[str, Any], int]:
    """``lightgbm.train`` parameters and the number of boosting rounds from ``forecasting.lightgbm``."""
    p = {**DEFAULT_LGBM, **(lightgbm or {})}
    unknown = sorted(set(p) - set(LGBM_KEYS) - {"extra"})
    if unknown:
        raise ValueError(f"forecasting.lightgbm has unknown keys {unknown}; allowed: {list(LGBM_KEYS)}")
    params = {
        "objective": str(p["objective"]),
        "learning_rate": float(p["learning_rate"]),
        "num_leaves": int(p["num_leaves"]),
        "min_data_in_leaf": int(p["min_child_samples"]),
        "feature_fraction": float(p["feature_fraction"]),
        "bagging_fraction": float(p["bagging_fraction"]),
        "bagging_freq": int(p["bagging_freq"]),
        "lambda_l2": float(p["lambda_l2"]),
        "max_bin": int(p["max_bin"]),
        "num_threads": int(p["num_threads"]),
        "seed": int(p["seed"]),
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    if params["objective"] == "tweedie":
        params["tweedie_variance_power"] = float(p["tweedie_variance_power"])
    params.update(dict(p.get("extra") or {}))
    return params, int(p["n_estimators"])


@dataclass
class ForecastModel:
    """A fitted model with what it needs to forecast again (picklable)."""

    booster: lgb.Booster
    features: list[str]
    feature_params: dict[str, Any]
    vocabulary: CategoryVocabulary
    lgbm_params: dict[str, Any]
    n_estimators: int
    model_version: str
    trained_until: pd.Timestamp
    n_train_rows: int
    interval: dict[str, Any] = field(default_factory=dict)
    target_scale: TargetScale | None = None
    # A refreshed model: ``booster`` is the base (fitted in full up to ``base_trained_until``) and ``refresh``
    # the rounds fitted on top of it on the data up to ``trained_until`` (see TrainingSet.fit).
    refresh: lgb.Booster | None = None
    base_trained_until: pd.Timestamp | None = None

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Units forecast for each row of features ``x`` (columns in ``features`` order)."""
        if self.target_scale is None:
            return np.clip(self._predict(x), 0.0, None)
        scaled, level = self.target_scale.scale_features(x, self.features)
        return np.clip(self._predict(scaled), 0.0, None) * level

    def _predict(self, x: np.ndarray) -> np.ndarray:
        threads = self.lgbm_params["num_threads"]
        if self.refresh is None:
            return self.booster.predict(x, num_threads=threads)
        raw = self.booster.predict(x, raw_score=True, num_threads=threads)
        raw += self.refresh.predict(x, raw_score=True, num_threads=threads)
        return from_raw(self.lgbm_params["objective"], raw)

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        """The base booster's raw scores (before the objective's link) for already scaled features ``x``."""
        return self.booster.predict(x, raw_score=True, num_threads=self.lgbm_params["num_threads"])


# Objectives whose prediction is exp(raw score), and those whose prediction is the raw score itself.
LOG_LINK_OBJECTIVES = frozenset({"tweedie", "poisson", "gamma"})
IDENTITY_LINK_OBJECTIVES = frozenset(
    {"regression", "regression_l2", "l2", "mse", "regression_l1", "l1", "huber", "fair", "quantile", "mape"}
)


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


def training_cells(wp: WidePanel, until_col: int, train_weeks: int | None = None, min_history: int = 1):
    """Cells (row, col) a model trained on data up to column ``until_col`` learns from.

    In the series' span, at or before ``until_col``, with at least ``min_history`` weeks of the series before
    it (>= 1: lag 1 exists), and within the last ``train_weeks`` weeks if given.
    """
    mask = wp.in_span.copy()
    mask[:, until_col + 1 :] = False
    first = np.argmax(wp.in_span, axis=1)
    mask &= np.arange(mask.shape[1])[None, :] >= first[:, None] + max(int(min_history), 1)
    if train_weeks:
        mask[:, : max(until_col + 1 - int(train_weeks), 0)] = False
    mask &= ~np.isnan(wp.units)
    return np.nonzero(mask)


class TrainingSet:
    """All candidate training cells of a panel with their features, built once and sliced per origin."""

    def __init__(
        self,
        x,
        y,
        cols,
        weeks,
        feature_params,
        vocabulary,
        train_weeks: int | None = None,
        target_scale: Mapping[str, Any] | None = None,
    ):
        self.x, self.y, self.cols, self.weeks = x, y, cols, weeks
        self.feature_params = resolve_feature_params(feature_params)
        self.features = feature_columns(self.feature_params)
        self.vocabulary = vocabulary
        self.train_weeks = train_weeks
        self.target_scale = TargetScale.from_params(target_scale, self.features)
        # The last full fit's booster, its raw scores on every row (NaN: not known yet) and its binned data.
        self._base_booster: lgb.Booster | None = None
        self._base_scores = np.full(len(y), np.nan)
        self._base_data: lgb.Dataset | None = None

    @classmethod
    def from_panel(
        cls,
        wp: WidePanel,
        feature_params,
        train_weeks: int | None = None,
        min_history: int = 1,
        target_scale: Mapping[str, Any] | None = None,
    ) -> TrainingSet:
        fp = resolve_feature_params(feature_params)
        vocabulary = CategoryVocabulary.fit(wp.series)
        rows, cols = training_cells(wp, len(wp.weeks) - 1, min_history=min_history)
        matrices = feature_matrices(wp, wp.units, fp, vocabulary)
        x = gather(matrices, feature_columns(fp), rows, cols)
        return cls(x, wp.units[rows, cols], cols, wp.weeks, fp, vocabulary, train_weeks, target_scale)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        wp: WidePanel,
        feature_params,
        train_weeks: int | None = None,
        target_scale: Mapping[str, Any] | None = None,
    ) -> TrainingSet:
        """From the ``model_features`` rows (built by the features pipeline from the same panel)."""
        fp = resolve_feature_params(feature_params)
        features = feature_columns(fp)
        missing = [c for c in [*features, "units", "week_end_date"] if c not in frame.columns]
        if missing:
            raise ValueError(f"model_features lacks columns {missing}; were they built with the same params?")
        cols = wp.weeks.get_indexer(pd.to_datetime(frame["week_end_date"]))
        if (cols < 0).any():
            raise ValueError("model_features has weeks that are not in model_panel: rebuild the features")
        x = frame[features].to_numpy(dtype="float32")
        y = frame["units"].to_numpy(dtype="float64")
        vocabulary = CategoryVocabulary.fit(wp.series)
        return cls(x, y, cols, wp.weeks, fp, vocabulary, train_weeks, target_scale)

    def model_version(
        self, lightgbm: Mapping[str, Any], extra_version: Mapping[str, Any] | None = None
    ) -> str:
        params, rounds = lgbm_train_params(lightgbm)
        extra = {"features": self.feature_params, **dict(extra_version or {})}
        if self.target_scale is not None:
            extra["target_scale"] = self.target_scale.as_dict()
        return compute_model_version(params, rounds, self.features, extra)

    def _rows_until(self, until_col: int) -> np.ndarray:
        keep = self.cols <= until_col
        if self.train_weeks:
            keep &= self.cols > until_col - int(self.train_weeks)
        return keep

    def fit_rows(self, until_col: int) -> int:
        """How many rows a model fitted at column ``until_col`` trains on."""
        return int(self._rows_until(until_col).sum())

    def fit(
        self,
        until_col: int,
        lightgbm: Mapping[str, Any],
        extra_version: Mapping[str, Any] | None = None,
        base: ForecastModel | None = None,
        refresh_rounds: int = 0,
    ) -> ForecastModel:
        """A model trained on the cells at or before column ``until_col`` (and within ``train_weeks``).

        With a ``base`` model (fitted by this training set, or on the same features) and ``refresh_rounds``, the
        base's trees are kept and only ``refresh_rounds`` boosting rounds are fitted on top of its scores: the
        cheap weekly refresh between full fits (``forecasting.refit``).
        """
        keep = self._rows_until(until_col)
        if not keep.any():
            raise ValueError(f"no training rows up to week {self.weeks[until_col].date()}: series too short?")
        params, rounds = lgbm_train_params(lightgbm)
        x, y, weight = self.x[keep], self.y[keep], None
        if self.target_scale is not None:
            x, weight = self.target_scale.scale_features(x, self.features)
            y = y / weight
        refreshing = base is not None and refresh_rounds > 0
        # A refresh of a base fitted by this training set reuses its bins (no second pass to find them).
        reference = self._base_data if refreshing and self._base_booster is base.booster else None
        data = lgb.Dataset(
            x,
            y,
            weight=weight,
            init_score=self._base_raw_scores(base, keep, x) if refreshing else None,
            feature_name=self.features,
            categorical_feature=[self.features.index(c) for c in categorical_columns() if c in self.features],
            free_raw_data=True,
            reference=reference,
            params={"max_bin": params["max_bin"], "verbosity": -1},
        )
        trained_until = pd.Timestamp(self.weeks[until_col])
        common = dict(
            features=self.features,
            feature_params=self.feature_params,
            vocabulary=self.vocabulary,
            lgbm_params=params,
            model_version=self.model_version(lightgbm, extra_version),
            trained_until=trained_until,
            n_train_rows=int(keep.sum()),
            target_scale=self.target_scale,
        )
        if refreshing:
            refresh = lgb.train(params, data, num_boost_round=int(refresh_rounds))
            return ForecastModel(
                booster=base.booster,
                n_estimators=base.n_estimators + int(refresh_rounds),
                refresh=refresh,
                base_trained_until=base.trained_until,
                **common,
            )
        booster = lgb.train(params, data, num_boost_round=rounds, keep_training_booster=True)
        model = ForecastModel(booster=booster, n_estimators=rounds, **common)
        self._remember_training_scores(model, keep)
        self._base_data = data
        return model

    def _remember_training_scores(self, model: ForecastModel, keep: np.ndarray) -> None:
        """Keep the new model's raw scores on its training rows (LightGBM has them: no second prediction),
        so that refreshing it later costs a prediction of the rows added since."""
        self._base_booster, self._base_scores = model.booster, np.full(len(self.y), np.nan)
        if not has_known_link(model.lgbm_params["objective"]):
            model.booster.free_dataset()  # such a model cannot be refreshed (refit settings refuse it)
            return
        captured: list[np.ndarray] = []

        def capture(predictions, _data):
            captured.append(np.array(predictions, dtype="float64"))
            return "captured", 0.0, False

        model.booster.eval_train(feval=capture)
        model.booster.free_dataset()
        self._base_scores[keep] = to_raw(model.lgbm_params["objective"], captured[0])

    def _base_raw_scores(self, base: ForecastModel, keep: np.ndarray, x_kept: np.ndarray) -> np.ndarray:
        """The base model's raw scores on the rows in ``keep`` (``x_kept``: their scaled features)."""
        scores = self._base_scores
        if self._base_booster is not base.booster:
            scores = np.full(len(self.y), np.nan)
        kept = scores[keep]
        missing = np.isnan(kept)
        if missing.any():
            kept[missing] = base.raw_scores(x_kept[missing])
            scores[np.flatnonzero(keep)[missing]] = kept[missing]
        self._base_booster, self._base_scores = base.booster, scores
        return kept


def recursive_forecast(
    model: ForecastModel, wp: WidePanel, origin_col: int, horizon: int, rows: np.ndarray
) -> np.ndarray:
    """Forecasts (len(rows) x horizon) of weeks origin+1 .. origin+horizon for the given series rows.

    ``wp`` must have week columns up to origin+horizon, with their plan in ``exog``. Units after the origin
    are ignored (they are what is being forecast).
    """
    if origin_col + horizon >= len(wp.weeks):
        raise ValueError("the panel needs week columns (with their plan) up to origin + horizon")
    # Features look back at most 52 weeks (+ a margin); slicing keeps each step's work small.
    start = max(origin_col - 60, 0)
    window = WidePanel(
        series=wp.series,
        weeks=wp.weeks[start : origin_col + horizon + 1],
        units=wp.units[:, start : origin_col + horizon + 1].copy(),
        exog={k: v[:, start : origin_col + horizon + 1] for k, v in wp.exog.items()},
        in_span=wp.in_span[:, start : origin_col + horizon + 1],
    )
    o = origin_col - start
    window.units[:, o + 1 :] = np.nan
    out = np.empty((len(rows), horizon))
    for h in range(1, horizon + 1):
        t = o + h
        matrices = feature_matrices(window, window.units, model.feature_params, model.vocabulary)
        x = gather(matrices, model.features, rows, np.full(len(rows), t))
        out[:, h - 1] = model.predict_matrix(x)
        window.units[rows, t] = out[:, h - 1]
    return out
