"""Fitting the model on the features stage's training rows: in full, or refreshed on top of the last full fit.

A full fit of the global model is ~300 boosting rounds over every training cell; in between, a week's new data
is taken in by ``refresh_rounds`` rounds fitted on top of the last full model's scores (``forecasting.refit``).
The model is fitted in full again once it is ``full_every_weeks`` old, or when the history it was fitted on
changed (a corrected or late delivery). The backtest replays the same schedule origin by origin, so its
metrics are those of the forecasts production publishes.

Measured with `make bench-forecast` (whole dunnhumby set, 13 scored origins, level scaling on): a full fit at
every origin, WAPE 0.2697 at 12.4-13.0 s per origin; a full fit every 5 weeks with 40 refresh rounds, WAPE 0.2690
at 4.95 s per origin (full fits ~13 s, refreshes ~2.5 s); every 6 weeks with 60 rounds, 0.2702 at 4.77 s.
A refresh of a base fitted by the same training set reuses its bins and its training scores, so it costs only
its own rounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from sellout.config.model_parameters import LightGBMParams, TargetScaleParams
from sellout.pipelines.features.feature_set import FeatureSet

from .model import ForecastModel, compute_model_version, has_known_link, lgbm_train_params, to_raw
from .target_scale import TargetScale


class TrainingSet:
    """The training cells of a feature set, sliced per origin (every cell's features come from the set)."""

    def __init__(
        self,
        feature_set: FeatureSet,
        train_weeks: int | None = None,
        target_scale: TargetScaleParams | Mapping[str, Any] | None = None,
    ) -> None:
        self.x, self.y, self.cols = feature_set.x, feature_set.y, feature_set.cols
        self.weeks = feature_set.panel.weeks
        self.engine = feature_set.engine
        self.features = self.engine.columns
        self.train_weeks = train_weeks
        self.target_scale = TargetScale.from_params(target_scale, self.features)
        # The last full fit's booster, its raw scores on every row (NaN: not known yet) and its binned data.
        self._base_booster: lgb.Booster | None = None
        self._base_scores = np.full(len(self.y), np.nan)
        self._base_data: lgb.Dataset | None = None

    def model_version(
        self, lightgbm: LightGBMParams | Mapping[str, Any], extra_version: Mapping[str, Any] | None = None
    ) -> str:
        params, rounds = lgbm_train_params(lightgbm)
        extra = {
            "features": self.engine.params.model_dump(mode="json"),
            "promotion": self.engine.promotion.model_dump(mode="json"),
            **dict(extra_version or {}),
        }
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
        lightgbm: LightGBMParams | Mapping[str, Any],
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
            categorical_feature=[self.features.index(c) for c in self.engine.categorical_columns],
            free_raw_data=True,
            reference=reference,
            params={"max_bin": params["max_bin"], "verbosity": -1},
        )
        common = dict(
            engine=self.engine,
            lgbm_params=params,
            model_version=self.model_version(lightgbm, extra_version),
            trained_until=pd.Timestamp(self.weeks[until_col]),
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
