"""Reuse of the forecasting stage's expensive results when nothing they depend on has changed.

A scheduled incremental run that finds no new file rebuilds the same feature set. LightGBM runs
deterministically (``deterministic: true``, one seed, fixed threads), so fitting again would give the same model
and the same backtest: on the whole dunnhumby set about 14 fits of 12 s each. The backtest's cells and the
trained model are therefore kept by the catalog (``stored_backtest_cells``, ``stored_forecast_models``: a
``MemoDataset`` each) under a content key: the feature set's fingerprint (panel, feature parameters, features
code), the forecasting parameters, the LightGBM version and the forecasting code. A run with the same key
reads them back.

The refit schedule keeps the last full fit (``stored_full_fits``) under a key of the settings alone, with a
digest of the history it was fitted on, the settings chosen for each source then (selection.py) and the raw
scores LightGBM kept on its training rows: the next weeks refresh it, from the same scores the backtest's
refreshes start from, while that history and the attribute codes are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import pandas as pd

from sellout.config.model_parameters import ForecastingParams, RefitParams
from sellout.pipelines.features.feature_set import FeatureSet
from sellout.pipelines.features.fingerprint import code_digest, digest
from sellout.pipelines.features.wide import WidePanel

from .model import ModelSet
from .training import BaseScores

logger = logging.getLogger(__name__)

StoredResults = Mapping[str, Callable[[], Any]]


@dataclass
class LastFullFit:
    """The model set the refit schedule refreshes, the digest of the weeks it was fitted on, the settings
    chosen for it (the ``model_settings`` record) and each source's raw scores on its training rows."""

    model: ModelSet
    history: str
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[str, BaseScores] = field(default_factory=dict)


def result_key(kind: str, feature_set: FeatureSet, params: ForecastingParams, extra: Any = None) -> str:
    """The content key of a result of ``kind`` computed from ``feature_set`` with ``params`` (and ``extra``:
    the settings chosen, a promo plan)."""
    settings = {"kind": kind, "forecasting": params.model_dump(mode="json"), "extra": extra}
    return digest(settings=settings, text=[feature_set.fingerprint, *_forecasting_code()])


def full_fit_key(feature_set: FeatureSet, params: ForecastingParams) -> str:
    """The key of the last full fit: the settings and the code, not the data (the next weeks' data differ)."""
    engine = feature_set.engine
    settings = {
        "forecasting": params.model_dump(mode="json"),
        "features": engine.params.model_dump(mode="json"),
        "promotion": engine.promotion.model_dump(mode="json"),
    }
    return digest(settings=settings, text=[code_digest("sellout.pipelines.features"), *_forecasting_code()])


def stored(results: StoredResults, key: str) -> Any | None:
    """The result stored under ``key`` (None: none, or unreadable)."""
    loader = results.get(key)
    return loader() if loader is not None else None


def history_digest(panel: WidePanel, until_col: int) -> str:
    """The content of the weeks up to ``until_col``: the series that started by then and their cells."""
    series = panel.first <= until_col
    cells = slice(0, until_col + 1)
    return digest(
        frames={"series": panel.series[series].reset_index(drop=True)},
        arrays=[
            panel.weeks[cells].to_numpy(),
            panel.in_span[series, cells],
            panel.units[series, cells],
            *(panel.exog[name][series, cells] for name in sorted(panel.exog)),
        ],
    )


def reusable_base(
    last: LastFullFit | None, feature_set: FeatureSet, refit: RefitParams, same_week: bool = False
) -> LastFullFit | None:
    """The last full fit if the schedule refreshes it now (or, with ``same_week``, it was fitted on this very
    panel: a rerun) and the history it saw is unchanged."""
    if last is None or not isinstance(last.model, ModelSet):
        return None
    base, panel = last.model, feature_set.panel
    weeks_since = int((panel.weeks[-1] - base.trained_until) / pd.Timedelta(weeks=1))
    if not (refit.refreshes(weeks_since) or (same_week and weeks_since == 0)):
        return None
    if base.trained_until not in panel.weeks:
        return None
    if last.history != history_digest(panel, panel.week_index(base.trained_until)):
        logger.info("the weeks up to %s changed since the last full fit: fitting in full", base.trained_until)
        return None
    if base.engine.vocabulary != feature_set.engine.vocabulary:
        # New stores or products renumber the attribute codes the base model's trees split on.
        logger.info("new attribute values since the last full fit: fitting in full")
        return None
    if set(base.models) != set(feature_set.panel.sources):
        logger.info("the sources changed since the last full fit: fitting in full")
        return None
    return last


def _forecasting_code() -> list[str]:
    return [code_digest(__package__), lgb.__version__]
