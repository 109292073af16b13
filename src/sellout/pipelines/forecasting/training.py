"""Fitting a source's model on the features stage's training rows: in full, or refreshed on top of the last full fit.

A full fit of a model is ~300 boosting rounds over every training cell of its series; in between, a week's new
data is taken in by ``refresh_rounds`` rounds fitted on top of the last full model's scores
(``forecasting.refit``). The model is fitted in full again once it is ``full_every_weeks`` old (or its
attribute codes or sources changed); a corrected or late delivery is taken in by the refresh, whose changed rows
are predicted again. The backtest replays the same schedule origin by origin, so its metrics are those of the
forecasts production publishes.

A refresh starts from the base model's raw scores on the rows it was fitted on: the scores LightGBM kept while
fitting it (no second prediction; production keeps them with the last full fit, ``BaseScores``, with a hash of
each row's features), and a prediction of the rows added since or whose features changed since (a new week
moves a few earlier rows: a series back in its span after weeks without a row, a product's totals over the
stores; on dunnhumby 1.3% of the rows). Its rows are binned afresh, as production bins them, so that the
backtest's refresh at an origin is the model production would have refreshed there.

Measured with `make bench-forecast` (whole dunnhumby set, 13 scored origins, level scaling on): a full fit at
every origin, WAPE 0.2697 at 12.4-13.0 s per origin; a full fit every 5 weeks with 40 refresh rounds, WAPE 0.2690
at 4.95 s per origin (full fits ~13 s, refreshes ~2.5 s); every 6 weeks with 60 rounds, 0.2702 at 4.77 s. A
full fit a quarter (every 13 weeks, the default) did better again on both data sets (dunnhumby 0.2699, Rossmann
0.0480 against 0.2717 and 0.0488 every 5 weeks); refreshes fitted on the last 13 or 26 weeks only were cheaper
but worse (dunnhumby 0.2840, 0.2827), so a refresh fits on every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sellout.canonical import SERIES_KEYS, WEEK
from sellout.config.model_parameters import LightGBMParams, TargetScaleParams
from sellout.pipelines.features.feature_set import FeatureSet
from sellout.pipelines.features.fingerprint import MULTIPLIERS, mix64

from .model import ForecastModel, compute_model_version, has_known_link, lgbm_train_params, to_raw
from .parallel import MATRIX_LOCK
from .target_scale import TargetScale

if TYPE_CHECKING:
    import lightgbm as lgb


@dataclass
class BaseScores:
    """A full fit's raw scores on its training cells (series keys and week) and a hash of each cell's features
    (``row_hashes``), kept for refreshing it later: a cell whose features changed since is predicted again."""

    keys: pd.DataFrame
    scores: np.ndarray
    row_hashes: np.ndarray


_HASH_CHUNK_ROWS = 262_144

# The rows a refresh's bin boundaries are drawn from (LightGBM's bin_construct_sample_cnt; its default, 200,000,
# stays for full fits). A refresh bins every training row afresh for a few rounds, and the boundaries only place
# those rounds' splits. `make bench-forecast` (2026-12-08): dunnhumby WAPE 0.2698 -> 0.2696, Rossmann 0.0447 ->
# 0.0446, LightGBM's binning on dunnhumby 37.8 -> 31.6 s summed over the threads; `make bench-flow`'s backtest
# 32.7 -> 30.7 s. (Full fits on 50,000 rows too: dunnhumby 0.2701, but the choice of settings on Rossmann
# changed, 0.0479.) A `lightgbm.extra` bin_construct_sample_cnt applies to every fit.
REFRESH_BIN_SAMPLE_ROWS = 50_000


def row_hashes(x: np.ndarray) -> np.ndarray:
    """One 64-bit hash per row of the float32 matrix ``x`` (equal rows, bit for bit, hash equal)."""
    out = np.empty(len(x), dtype="uint64")
    multipliers = MULTIPLIERS[: x.shape[1]]  # one per column: equal values in other columns hash apart
    for start in range(0, len(x), _HASH_CHUNK_ROWS):
        bits = np.ascontiguousarray(x[start : start + _HASH_CHUNK_ROWS], dtype="float32")
        mixed = mix64(bits.view("uint32").astype("uint64"), multipliers)
        with np.errstate(over="ignore"):
            out[start : start + len(mixed)] = mixed.sum(axis=1, dtype="uint64")
    return out


class TrainingSet:
    """The training cells of a feature set (of the series ``series``, reading ``columns``), sliced per origin."""

    def __init__(
        self,
        feature_set: FeatureSet,
        train_weeks: int | None = None,
        target_scale: TargetScaleParams | Mapping[str, Any] | None = None,
        series: np.ndarray | None = None,
        columns: Sequence[str] | None = None,
    ) -> None:
        self.feature_set = feature_set
        self.engine = feature_set.engine
        self.weeks = feature_set.panel.weeks
        self.columns = tuple(columns) if columns is not None else None
        self.features = list(columns) if columns is not None else self.engine.columns
        unknown = sorted(set(self.features) - set(self.engine.columns))
        if unknown:
            raise ValueError(f"columns {unknown} are not features of the engine")
        self._column_index = (
            None
            if columns is None
            else np.array([self.engine.columns.index(c) for c in columns], dtype="int64")
        )
        cells = np.ones(len(feature_set.rows), dtype=bool)
        if series is not None:
            chosen = np.zeros(feature_set.panel.n_series, dtype=bool)
            chosen[np.asarray(series, dtype="int64")] = True
            cells = chosen[feature_set.rows]
        self._cells = np.flatnonzero(cells)
        self.y, self.cols = feature_set.y[self._cells], feature_set.cols[self._cells]
        self.train_weeks = train_weeks
        self.target_scale = TargetScale.from_params(target_scale, self.features)
        # The last full fit's booster and its raw scores on every row (NaN: not known yet).
        self._base_booster: lgb.Booster | None = None
        self._base_scores = np.full(len(self.y), np.nan)

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

    def _x(self, keep: np.ndarray) -> np.ndarray:
        """A copy of the kept rows' features (the rows and the columns taken in one copy)."""
        rows = self._cells[keep]
        if self._column_index is None:
            return self.feature_set.x[rows]
        return self.feature_set.x[np.ix_(rows, self._column_index)]

    def fit_rows(self, until_col: int) -> int:
        """How many rows a model fitted at column ``until_col`` trains on."""
        return int(self._rows_until(until_col).sum())

    def matrix_bytes(self, until_col: int) -> int:
        """The size of the training matrix (float32) of a fit at column ``until_col``."""
        return self.fit_rows(until_col) * len(self.features) * 4

    def fit(
        self,
        until_col: int,
        lightgbm: LightGBMParams | Mapping[str, Any],
        extra_version: Mapping[str, Any] | None = None,
        base: ForecastModel | None = None,
        refresh_rounds: int = 0,
        num_threads: int | None = None,
    ) -> ForecastModel:
        """A model trained on the cells at or before column ``until_col`` (and within ``train_weeks``).

        With a ``base`` model (fitted by this training set, or one whose ``BaseScores`` it adopted) and
        ``refresh_rounds``, the base's trees are kept and only ``refresh_rounds`` boosting rounds are fitted on
        top of its scores: the cheap weekly refresh between full fits (``forecasting.refit``).
        ``num_threads``: LightGBM's threads for this fit (fits side by side, parallel.py) instead of the
        setting's; the model, and the threads it predicts with, are the same either way.
        """
        import lightgbm as lgb  # noqa: PLC0415 - imported where a model is fitted, not at start-up

        keep = self._rows_until(until_col)
        if not keep.any():
            raise ValueError(f"no training rows up to week {self.weeks[until_col].date()}: series too short?")
        params, rounds = lgbm_train_params(lightgbm)
        fit_params = params if num_threads is None else {**params, "num_threads": num_threads}
        refreshing = base is not None and refresh_rounds > 0
        if refreshing:
            # a bin_construct_sample_cnt in lightgbm.extra (already in fit_params) overrides this one
            fit_params = {"bin_construct_sample_cnt": REFRESH_BIN_SAMPLE_ROWS, **fit_params}
        with MATRIX_LOCK:
            x, y, weight = self._x(keep), self.y[keep], None  # x: a copy of the kept rows, this call's own
            if self.target_scale is not None:
                x, weight = self.target_scale.scale_features(x, self.features, in_place=True)
                y = y / weight
            init_score = self._base_raw_scores(base, keep, x, num_threads) if refreshing else None
            data = lgb.Dataset(
                x,
                y,
                weight=weight,
                init_score=init_score,
                feature_name=self.features,
                categorical_feature=[
                    self.features.index(c) for c in self.engine.categorical_columns if c in self.features
                ],
                free_raw_data=True,
                params=dict(fit_params),  # as lgb.train would bin them (its seed samples the bins' rows)
            ).construct()
            # LightGBM dropped its reference once the rows were binned (free_raw_data): the copy is freed
            del x
        common = dict(
            engine=self.engine,
            lgbm_params=params,
            model_version=self.model_version(lightgbm, extra_version),
            trained_until=pd.Timestamp(self.weeks[until_col]),
            n_train_rows=int(keep.sum()),
            target_scale=self.target_scale,
            columns=self.columns,
        )
        if refreshing:
            refresh = lgb.train(fit_params, data, num_boost_round=int(refresh_rounds))
            return ForecastModel(
                booster=base.booster,
                n_estimators=base.n_estimators + int(refresh_rounds),
                refresh=refresh,
                base_trained_until=base.trained_until,
                **common,
            )
        booster = lgb.train(fit_params, data, num_boost_round=rounds, keep_training_booster=True)
        model = ForecastModel(booster=booster, n_estimators=rounds, **common)
        self._remember_training_scores(model, keep)
        return model

    def base_scores(self, model: ForecastModel) -> BaseScores:
        """``model``'s raw scores on the rows it was fitted on (it must be this set's last full fit)."""
        if model.booster is not self._base_booster:
            raise ValueError("base_scores: the model is not this training set's last full fit")
        known = ~np.isnan(self._base_scores)
        return BaseScores(self._keys(known), self._base_scores[known].copy(), self._row_hashes(known))

    def adopt_base(self, model: ForecastModel, base_scores: BaseScores | None) -> int:
        """Refresh ``model`` (a full fit of another training set, another week's) from its kept scores: those of
        the cells whose features are unchanged. Returns how many kept cells changed (predicted again)."""
        self._base_booster, self._base_scores = model.booster, np.full(len(self.y), np.nan)
        if base_scores is None or not len(base_scores.scores):
            return 0
        index = pd.MultiIndex.from_frame(base_scores.keys)
        everything = np.ones(len(self.y), dtype=bool)
        position = index.get_indexer(pd.MultiIndex.from_frame(self._keys(everything)))
        found = np.flatnonzero(position >= 0)
        same = self._row_hashes(found) == base_scores.row_hashes[position[found]]
        self._base_scores[found[same]] = base_scores.scores[position[found[same]]]
        return int((~same).sum())

    def _keys(self, which: np.ndarray) -> pd.DataFrame:
        series = self.feature_set.panel.series
        rows = self.feature_set.rows[self._cells[which]]
        keys = {key: series[key].to_numpy()[rows] for key in SERIES_KEYS}
        return pd.DataFrame({**keys, WEEK: self.weeks[self.cols[which]]})

    def _row_hashes(self, which: np.ndarray) -> np.ndarray:
        """The feature hashes of the cells ``which`` (a mask or positions of this set's cells), a chunk at a time
        (no copy of every row's features)."""
        positions = np.flatnonzero(which) if which.dtype == bool else which
        out = np.empty(len(positions), dtype="uint64")
        for start in range(0, len(positions), _HASH_CHUNK_ROWS):
            chunk = positions[start : start + _HASH_CHUNK_ROWS]
            out[start : start + len(chunk)] = row_hashes(self._x(chunk))
        return out

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

    def _base_raw_scores(
        self, base: ForecastModel, keep: np.ndarray, x_kept: np.ndarray, num_threads: int | None = None
    ) -> np.ndarray:
        """The base model's raw scores on the rows in ``keep`` (``x_kept``: their scaled features)."""
        scores = self._base_scores
        if self._base_booster is not base.booster:
            scores = np.full(len(self.y), np.nan)
        kept = scores[keep]
        missing = np.isnan(kept)
        if missing.any():
            kept[missing] = base.raw_scores(x_kept[missing], num_threads)
            scores[np.flatnonzero(keep)[missing]] = kept[missing]
        self._base_booster, self._base_scores = base.booster, scores
        return kept
