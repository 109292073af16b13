"""The production model's point forecasts from the panel's last week, made once per run.

The backtest keeps their first horizons as next week's last origin, so that what next week's backtest scores
there is what this run published; ``forecast_next_weeks`` corrects their level, adds the intervals and
publishes them. Made once, they cost one recursive forecast instead of two (a 4-week one for the backtest and
the 8-week one to publish: 71,100 series x 12 steps of LightGBM prediction at 20 times dunnhumby, 1.5 s each).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sellout.canonical import SERIES_KEYS
from sellout.config.model_parameters import ForecastingParams
from sellout.pipelines.features.feature_set import FeatureSet

from .model import ModelSet, recursive_forecast
from .plan import activate_series, apply_plan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProductionForecast:
    """Forecasts (``point``: len(rows) x horizon, before the level correction) of the active series ``rows``
    from the panel's last week, with the inputs each source knows ahead (``known``: its rows, its
    ``known_inputs``); ``weeks`` are the panel's weeks and the forecast weeks after them; ``key``: what they
    were made from (the feature set, the parameters, the promo plan where a source reads it)."""

    key: str
    model_version: str
    trained_until: pd.Timestamp
    origin_week: pd.Timestamp
    weeks: pd.DatetimeIndex
    rows: np.ndarray
    point: np.ndarray
    known: tuple[tuple[np.ndarray, str], ...]

    @property
    def horizon(self) -> int:
        return int(self.point.shape[1])

    def made_by(self, model: ModelSet, key: str) -> bool:
        """Whether these are ``model``'s forecasts from what ``key`` stands for."""
        return self.model_version == model.model_version and self.key == key


def production_forecast(
    model: ModelSet,
    feature_set: FeatureSet,
    promo_plan: pd.DataFrame | None,
    p: ForecastingParams,
    key: str,
) -> ProductionForecast:
    """``model``'s forecasts of the ``p.horizon`` weeks after the panel's last week for the active series.

    Future prices and promotions per source (``known_inputs``): the plan rule alone where no plan is delivered
    (a plan's rows for such a source are ignored, as the backtest ignores them), ``promo_plan`` where it has
    them and the rule elsewhere otherwise (plan.py)."""
    horizon = p.horizon
    origin = len(feature_set.panel.weeks) - 1
    wp = feature_set.panel.extended(horizon)
    rows = activate_series(wp, origin, p.active_weeks)
    rows = rows[np.isin(wp.sources[rows], list(model.models))]
    sources = wp.sources[rows]
    known = []
    for source in sorted(set(sources)):
        own = rows[sources == source]
        known_inputs = p.known_inputs_of(source)
        if known_inputs == "rule":
            _warn_ignored_plan(promo_plan, source, wp.series.iloc[own])
        apply_plan(wp, origin, horizon, own, None if known_inputs == "rule" else promo_plan, p.plan_rule)
        known.append((own, known_inputs))
    point = recursive_forecast(model, wp, origin, horizon, rows) if len(rows) else np.empty((0, horizon))
    return ProductionForecast(
        key=key,
        model_version=model.model_version,
        trained_until=pd.Timestamp(model.trained_until),
        origin_week=pd.Timestamp(wp.weeks[origin]),
        weeks=pd.DatetimeIndex(wp.weeks),
        rows=rows,
        point=point,
        known=tuple(known),
    )


def _warn_ignored_plan(promo_plan: pd.DataFrame | None, source: str, series: pd.DataFrame) -> None:
    if promo_plan is None or promo_plan.empty or not set(SERIES_KEYS) <= set(promo_plan.columns):
        return
    keys = pd.MultiIndex.from_frame(series[list(SERIES_KEYS)].astype("str"))
    planned = pd.MultiIndex.from_frame(promo_plan[list(SERIES_KEYS)].astype("str")).isin(keys)
    if planned.any():
        logger.warning(
            "promo_plan has %d rows for source %s, whose known_inputs is 'rule': ignored (set "
            "forecasting.known_inputs_by_source.%s: plan to use them)",
            int(planned.sum()),
            source,
            source,
        )
