"""The feature engine: the one place that turns a (series x week) panel into model inputs.

The features stage builds it (parameters, the promotion rule, the attribute codes of the panel) and computes
the training rows with it; the forecasting stage trains and backtests on those rows, and its recursive
forecast asks the same engine for the features of one week at a time (``ForecastWindow``), which keeps only
``history_weeks`` weeks of history: the longest look-back of the model's features (see transforms.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sellout.config.model_parameters import CATEGORICAL_FEATURES, FeatureParams
from sellout.config.parameters import PromotionParams

from .transforms import FeatureInputs, Transform, transforms
from .vocabulary import CategoryVocabulary
from .wide import WidePanel, carry_over

# Features written into the model matrix together (see model_matrix).
_FEATURE_GROUP = 8
# A forecast of at most this share of the series computes their own features on their rows alone.
_ROWS_ALONE = 0.25


@dataclass(frozen=True)
class FeatureEngine:
    params: FeatureParams
    promotion: PromotionParams
    vocabulary: CategoryVocabulary

    @classmethod
    def fit(cls, panel: WidePanel, params: FeatureParams, promotion: PromotionParams) -> FeatureEngine:
        """The engine of ``params`` with the attribute codes of ``panel``'s series."""
        return cls(params, promotion, CategoryVocabulary.fit(panel.series))

    @property
    def columns(self) -> list[str]:
        """The model's input columns, in order."""
        return self.params.model_columns()

    @property
    def categorical_columns(self) -> list[str]:
        return [c for c in CATEGORICAL_FEATURES if c in self.columns]

    @property
    def plan_columns(self) -> list[str]:
        """The model columns that read the forecast week's own plan (prices, promotions, calendar inputs), or
        whether and how long ago the weeks just before it were promoted (which, from a forecast's second week
        on, are the plan's weeks too): what a model leaves out where no plan is delivered."""
        return [t.name for t in self._model_transforms() if t.reads_plan or t.reads_earlier_plan]

    @property
    def history_weeks(self) -> int:
        """Weeks before a forecast week that its features read: what a forecast keeps of the history."""
        return max(t.lookback for t in self._model_transforms())

    def feature_units(self, panel: WidePanel, start: int = 0) -> np.ndarray:
        """The units the features read, of columns ``start`` on: the model's (``demand``), with outage weeks
        carried over (from before ``start`` too) if the rule says so."""
        units, no_demand = self.demand(panel)
        if self.params.across_outages == "carry":
            return carry_over(units, no_demand, start)
        return units[:, start:]

    def demand(self, panel: WidePanel) -> tuple[np.ndarray, np.ndarray]:
        """The units the model learns (the panel's; per open day, times 7, where the feed says how many days
        the store was closed and ``per_open_day``) and the cells that say nothing of demand (outages; weeks
        closed throughout)."""
        share = self._open_share(panel)
        if share is None:
            return panel.units, panel.outage
        closed = share == 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            units = np.where(closed, np.nan, panel.units / share)
        return units, panel.outage | closed

    def targets(self, panel: WidePanel, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The model's targets at cells (rows[i], cols[i]): ``demand``'s units there (NaN: no demand known)."""
        return self.demand(panel)[0][rows, cols]

    def in_units(
        self, panel: WidePanel, rows: np.ndarray, cols: np.ndarray, values: np.ndarray
    ) -> np.ndarray:
        """The model's forecasts ``values`` (len(rows) x len(cols)) as units of the weeks ``cols``: times each
        week's open share where the model learns units per open day."""
        share = self._open_share(panel)
        return values if share is None else values * share[np.ix_(rows, cols)]

    def _open_share(self, panel: WidePanel) -> np.ndarray | None:
        return panel.open_share() if self.params.per_open_day else None

    def inputs(self, panel: WidePanel, units: np.ndarray | None = None) -> FeatureInputs:
        """What the transforms read; ``units`` (already as the features read them) replaces the panel's."""
        return FeatureInputs(
            panel,
            self.feature_units(panel) if units is None else units,
            self.promotion.price_cut,
            self.vocabulary,
        )

    def matrices(self, panel: WidePanel, every_feature: bool = False) -> dict[str, np.ndarray]:
        """Each model feature (or every feature the parameters define) as an (n_series x n_weeks) matrix."""
        chosen = transforms(self.params) if every_feature else self._model_transforms()
        inputs = self.inputs(panel)
        return {t.name: t.full(inputs) for t in chosen}

    def model_matrix(self, panel: WidePanel, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The model matrix (float32, columns in ``columns`` order) of cells (rows[i], cols[i])."""
        inputs = self.inputs(panel)
        # One flat index for every feature, and each feature written to a row of its own: a 2-D fancy index
        # per feature, written down a column of the (cells x features) matrix, took 0.7 s on dunnhumby's 570k
        # cells; this takes 0.39 s. The values are the same (float64 features cast to float32). The rows are
        # written into the matrix a group of features at a time: transposing them all at once held the matrix
        # twice (the matrix is 381 MB at 5x dunnhumby).
        flat = np.asarray(rows, dtype="int64") * inputs.n_weeks + np.asarray(cols, dtype="int64")
        chosen = self._model_transforms()
        out = np.empty((len(flat), len(chosen)), dtype="float32")
        for start in range(0, len(chosen), _FEATURE_GROUP):
            group = chosen[start : start + _FEATURE_GROUP]
            by_feature = np.empty((len(group), len(flat)), dtype="float32")
            for j, transform in enumerate(group):
                by_feature[j] = transform.full(inputs).ravel().take(flat)
            out[:, start : start + len(group)] = by_feature.T
        return out

    def step(
        self, inputs: FeatureInputs, t: int, rows: np.ndarray, rows_inputs: FeatureInputs | None = None
    ) -> np.ndarray:
        """The model matrix of week column ``t`` for the series ``rows``: only that week is computed.
        ``rows_inputs`` (``inputs.of_rows(rows)``, its units up to date): the features of each series' own
        rows are computed on it, for those rows alone; the cross-series ones on ``inputs``, then taken."""
        out = np.empty((len(rows), len(self.columns)), dtype="float32")
        for j, transform in enumerate(self._model_transforms()):
            if rows_inputs is None or transform.cross_series:
                out[:, j] = transform.at(inputs, t)[rows]
            else:
                out[:, j] = transform.at(rows_inputs, t)
        return out

    def _model_transforms(self) -> list[Transform]:
        wanted = set(self.columns)
        return [t for t in transforms(self.params) if t.name in wanted]


class ForecastWindow:
    """The weeks a recursive forecast from ``origin`` works on: ``history_weeks`` weeks up to the origin and
    the ``horizon`` weeks after it (mlforecast's ``keep_last_n``), with the origin's units and its own forecasts.

    ``panel`` must have week columns up to origin + horizon with their plan in ``exog``; its units after the
    origin are ignored (they are what is being forecast), and it is not changed.
    """

    def __init__(self, engine: FeatureEngine, panel: WidePanel, origin_col: int, horizon: int) -> None:
        if origin_col + horizon >= len(panel.weeks):
            raise ValueError("the panel needs week columns (with their plan) up to origin + horizon")
        self.engine = engine
        self.start = max(origin_col + 1 - engine.history_weeks, 0)
        stop = origin_col + horizon + 1
        self.panel = panel.window(self.start, stop)
        self.origin = origin_col - self.start
        # outages carried over as on the whole history, as in training
        units = engine.feature_units(panel.window(0, origin_col + 1), self.start)
        units = np.concatenate([units, np.full((panel.n_series, stop - origin_col - 1), np.nan)], axis=1)
        self.inputs = engine.inputs(self.panel, units)
        self._rows: tuple[np.ndarray, FeatureInputs] | None = None

    @property
    def history_weeks(self) -> int:
        """Weeks kept up to and including the origin."""
        return self.origin + 1

    def features(self, step: int, rows: np.ndarray) -> np.ndarray:
        """The model matrix of week origin + ``step`` for ``rows`` (earlier steps' forecasts recorded)."""
        return self.engine.step(self.inputs, self.origin + step, rows, self._rows_inputs(rows))

    def _rows_inputs(self, rows: np.ndarray) -> FeatureInputs | None:
        """The inputs of ``rows`` alone, when they are few of the series (a sample: the choice of settings
        forecasts 1,000 of 78,000 series at 20 times dunnhumby); None for more, where the copy spares little
        (1,000 of dunnhumby's 3,909 series: the choice took 3.5-3.7 s either way). Kept for the window's next
        steps, its units set anew."""
        if len(rows) > _ROWS_ALONE * self.inputs.n_series:
            return None
        if self._rows is None or not np.array_equal(self._rows[0], rows):
            self._rows = (np.array(rows, copy=True), self.inputs.of_rows(rows))
        rows_inputs = self._rows[1]
        rows_inputs.units = self.inputs.units[rows]
        return rows_inputs

    def record(self, step: int, rows: np.ndarray, forecast: np.ndarray) -> None:
        """The model's forecasts of week origin + ``step``: later steps read them as that week's units."""
        self.inputs.units[rows, self.origin + step] = forecast

    def in_units(self, rows: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
        """The model's forecasts of ``rows`` (one column per step) in units (``FeatureEngine.in_units``)."""
        cols = self.origin + 1 + np.arange(forecasts.shape[1])
        return self.engine.in_units(self.panel, rows, cols, forecasts)
