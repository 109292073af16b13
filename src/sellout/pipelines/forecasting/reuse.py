"""Reuse of the forecasting stage's expensive results when nothing they depend on has changed.

A scheduled incremental run that finds no new file rebuilds the same feature set. LightGBM runs
deterministically (``deterministic: true``, one seed, fixed threads), so fitting again would give the same model
and the same backtest: on the whole dunnhumby set about 14 fits of 12 s each. The trained model is therefore
kept by the catalog (``stored_forecast_models``, a ``MemoDataset``) under a content key: the feature set's
fingerprint (panel, feature parameters, features code), the forecasting parameters, the LightGBM version and
the forecasting code. A run with the same key reads it back.

The refit schedule keeps each full fit (``stored_full_fits``) under a key of the settings and the code, not the
data, and the week it was fitted at (``full_fit_entry``), with the settings chosen for each source then
(selection.py) and the raw scores LightGBM kept on its training rows (with a hash of each row's features): the
next weeks refresh it from those scores, predicting again only the rows that are new or whose features changed,
while the attribute codes and the sources are unchanged. The backtest's newest origins start from the same full
fits (backtest.py: the origins kept from an earlier run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd

from sellout.canonical import SERIES_KEYS
from sellout.config.model_parameters import ForecastingParams, RefitParams
from sellout.pipelines.features.feature_set import FeatureSet
from sellout.pipelines.features.fingerprint import MULTIPLIERS, code_digest, digest, mix64
from sellout.pipelines.features.wide import WidePanel

from .model import ModelSet
from .training import BaseScores

logger = logging.getLogger(__name__)

StoredResults = Mapping[str, Callable[[], Any]]


@dataclass
class LastFullFit:
    """The model set the refit schedule refreshes, the settings chosen for it (the ``model_settings`` record)
    and each source's raw scores on its training rows."""

    model: ModelSet
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[str, BaseScores] = field(default_factory=dict)


# Settings that change how fast a result is made, not the result: changing them keeps what was stored.
RESULT_NEUTRAL = {"parallel_fits"}


def result_key(kind: str, feature_set: FeatureSet, params: ForecastingParams, extra: Any = None) -> str:
    """The content key of a result of ``kind`` computed from ``feature_set`` with ``params`` (and ``extra``:
    the settings chosen, a promo plan)."""
    settings = {
        "kind": kind,
        "forecasting": params.model_dump(mode="json", exclude=RESULT_NEUTRAL),
        "extra": extra,
    }
    return digest(settings=settings, text=[feature_set.fingerprint, *_forecasting_code()])


def schedule_key(kind: str, feature_set: FeatureSet, params: ForecastingParams, extra: Any = None) -> str:
    """The key of a result of ``kind`` that later weeks build on: the settings and the code, not the data (the
    next weeks' data differ)."""
    engine = feature_set.engine
    settings = {
        "kind": kind,
        "forecasting": params.model_dump(mode="json", exclude=RESULT_NEUTRAL),
        "features": engine.params.model_dump(mode="json"),
        "promotion": engine.promotion.model_dump(mode="json"),
        "extra": extra,
    }
    stages = [code_digest(f"sellout.pipelines.{stage}") for stage in ("preprocessing", "features")]
    return digest(settings=settings, text=[*stages, *_forecasting_code()])


def full_fit_key(feature_set: FeatureSet, params: ForecastingParams) -> str:
    """The key of the full fits the refit schedule refreshes (each stored under ``full_fit_entry``)."""
    return schedule_key("full_fit", feature_set, params)


def stored(results: StoredResults, key: str) -> Any | None:
    """The result stored under ``key`` (None: none, or unreadable)."""
    loader = results.get(key)
    return loader() if loader is not None else None


def full_fit_entry(key: str, week: pd.Timestamp) -> str:
    """The stored name of the full fit of ``key`` fitted at ``week``."""
    return f"{key}-{pd.Timestamp(week):%Y%m%d}"


def last_full_fit(results: StoredResults, key: str, until: pd.Timestamp) -> LastFullFit | None:
    """The newest full fit stored under ``key`` that was fitted at or before week ``until`` (None: none)."""
    fitted_at = {}
    for name in results:
        prefix, _, week = name.rpartition("-")
        if prefix == key and week.isdigit() and len(week) == 8:
            fitted_at[name] = pd.Timestamp(week)
    for name in sorted(fitted_at, key=fitted_at.get, reverse=True):
        if fitted_at[name] <= pd.Timestamp(until):
            value = stored(results, name)
            if isinstance(value, LastFullFit):
                return value
    return None


def reusable_base(
    last: LastFullFit | None,
    feature_set: FeatureSet,
    refit: RefitParams,
    at_col: int | None = None,
    same_week: bool = False,
) -> LastFullFit | None:
    """The last full fit if the schedule refreshes it at column ``at_col`` (default: the last week) or, with
    ``same_week``, it was fitted at that very week (a rerun), and its attribute codes and sources still hold."""
    if last is None or not isinstance(last.model, ModelSet):
        return None
    base, panel = last.model, feature_set.panel
    at_col = len(panel.weeks) - 1 if at_col is None else at_col
    if base.trained_until not in panel.weeks:
        return None
    weeks_since = at_col - panel.week_index(base.trained_until)
    if not (refit.refreshes(weeks_since) or (same_week and weeks_since == 0)):
        return None
    if base.engine.vocabulary != feature_set.engine.vocabulary:
        # New stores or products renumber the attribute codes the base model's trees split on.
        logger.info("new attribute values since the last full fit: fitting in full")
        return None
    if set(base.models) != set(feature_set.panel.sources):
        logger.info("the sources changed since the last full fit: fitting in full")
        return None
    return last


def delivered_history(panel: WidePanel) -> np.ndarray:
    """Per series and week column, a 64-bit digest of what the series had delivered up to and including that
    week: every cell with sales (finite, non-zero units), with its week, units and inputs (prices, promotions,
    calendar). Digests of several series add up (``np.sum`` with ``dtype="uint64"``): the digest of a set.

    A new week leaves the digests of earlier weeks as they were, although it moves some of their derived cells
    (a series back in its span fills the weeks without a row with zeros, a store's missing weeks become an
    outage) and brings series that now have enough history; a delivery that changes a week (a resent or
    corrected file) changes that week's digest and every later one of the series it touched."""
    key = pd.util.hash_pandas_object(panel.series[list(SERIES_KEYS)].astype("str"), index=False).to_numpy()
    day = (panel.weeks.to_numpy().astype("datetime64[D]").astype("int64")).astype("uint64")
    out = np.empty(panel.units.shape, dtype="uint64")
    matrices = [panel.units, *(panel.exog[name] for name in sorted(panel.exog))]
    for start in range(0, panel.n_series, _DIGEST_CHUNK_ROWS):
        rows = slice(start, start + _DIGEST_CHUNK_ROWS)
        units = panel.units[rows]
        mixed = mix64(key[rows, None] ^ day[None, :], MULTIPLIERS[0])
        for position, matrix in enumerate(matrices, start=1):
            values = np.nan_to_num(matrix[rows].astype("float64"), nan=-1.5e308, copy=False)
            mixed = mix64(values.view("uint64") ^ mixed, MULTIPLIERS[position])
        delivered = np.isfinite(units) & (units != 0)
        with np.errstate(over="ignore"):
            np.cumsum(np.where(delivered, mixed, np.uint64(0)), axis=1, dtype="uint64", out=out[rows])
    return out


_DIGEST_CHUNK_ROWS = 16_384


def _forecasting_code() -> list[str]:
    return [code_digest(__package__), version("lightgbm")]
