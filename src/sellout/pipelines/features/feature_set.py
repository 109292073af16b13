"""The features stage's output: the panel as matrices, the feature engine and the training rows it computed.

The forecasting stage reads this one object (catalog entry ``feature_set``): training, the backtest and the
forecast all take their feature values from it, so the panel is pivoted and the features computed once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sellout.canonical import SERIES_KEYS, UNITS, WEEK

from .engine import FeatureEngine
from .sampling import sampled_series
from .wide import WidePanel

logger = logging.getLogger(__name__)


@dataclass
class FeatureSet:
    """``panel``: the model panel as matrices; ``engine``: what computed the features (and computes them for
    future weeks); ``rows``, ``cols``: the training cells; ``x``: their features (float32, one row per cell,
    columns ``engine.columns``); ``fingerprint``: the content key of the panel, the parameters and the code;
    ``trained``: per series, whether its cells are training cells (False: left out of a source's sample,
    sampling.py; such a series is still forecast)."""

    panel: WidePanel
    engine: FeatureEngine
    rows: np.ndarray
    cols: np.ndarray
    x: np.ndarray
    fingerprint: str
    trained: np.ndarray

    @property
    def y(self) -> np.ndarray:
        """The model's targets at the training cells (units; per open day where the engine says)."""
        return self.engine.targets(self.panel, self.rows, self.cols)

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self) -> pd.DataFrame:
        """The training rows as a table: keys, week, the target (``y``, under ``units``) and every feature."""
        keys = pd.DataFrame(
            {
                **{key: self.panel.series[key].to_numpy()[self.rows] for key in SERIES_KEYS},
                WEEK: self.panel.weeks[self.cols],
                UNITS: self.y,
            }
        )
        return pd.concat([keys, pd.DataFrame(self.x, columns=self.engine.columns)], axis=1)


def training_cells(panel: WidePanel, until_col: int, train_weeks: int | None = None, min_history: int = 1):
    """Cells (row, col) a model trained on data up to column ``until_col`` learns from.

    In the series' span, at or before ``until_col``, with at least ``min_history`` weeks of the series before
    it (>= 1: lag 1 exists), and within the last ``train_weeks`` weeks if given.
    """
    mask = panel.in_span.copy()
    mask[:, until_col + 1 :] = False
    mask &= np.arange(mask.shape[1])[None, :] >= panel.first[:, None] + max(int(min_history), 1)
    if train_weeks:
        mask[:, : max(until_col + 1 - int(train_weeks), 0)] = False
    mask &= ~np.isnan(panel.units)
    return np.nonzero(mask)


def _log_samples(panel: WidePanel, rows: np.ndarray, trained: np.ndarray, max_cells: int) -> None:
    sources = panel.sources
    for source in sorted(set(sources[~trained])):
        of_source = sources == source
        logger.info(
            "source %s: its model is fitted on %d of its %d series (%d of %d training cells; "
            "features.max_training_cells %d); every series is forecast",
            source,
            int((trained & of_source).sum()),
            int(of_source.sum()),
            int((trained & of_source)[rows].sum()),
            int(of_source[rows].sum()),
            max_cells,
        )


def build_feature_set(panel: WidePanel, engine: FeatureEngine, fingerprint: str) -> FeatureSet:
    """The training cells of ``panel`` (each series' weeks after its first; of a sample of a source's series
    past ``max_training_cells``) with their features."""
    rows, cols = training_cells(panel, len(panel.weeks) - 1)
    known = ~np.isnan(engine.targets(panel, rows, cols))  # a week closed throughout is no target
    rows, cols = rows[known], cols[known]
    trained = sampled_series(panel, rows, engine.params.max_training_cells)
    if not trained.all():
        _log_samples(panel, rows, trained, engine.params.max_training_cells)
        kept = trained[rows]
        rows, cols = rows[kept], cols[kept]
    return FeatureSet(panel, engine, rows, cols, engine.model_matrix(panel, rows, cols), fingerprint, trained)
