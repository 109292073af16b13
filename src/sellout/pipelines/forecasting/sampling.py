"""Which series a source's model is fitted on when its history is larger than a fit needs.

A fit's time and memory grow with its training cells; its accuracy stops growing long before (a global model
learns what the series share, and a retailer's ten-thousandth series teaches it little that the first thousands
did not). Past ``forecasting.max_training_cells`` a source's model is therefore fitted on a sample of its series,
and still forecasts every series. The sample is stable from one week to the next: series are taken in the order
of a hash of their keys (not of their row number, which a new store or product shifts) until the cells run out,
so a new week drops at most the few series at the margin and a refresh keeps most of its base's rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sellout.canonical import SERIES_KEYS
from sellout.pipelines.features.feature_set import FeatureSet


def hash_order(series: pd.DataFrame) -> np.ndarray:
    """The positions of ``series``' rows in the order of a hash of their keys (the same on any run)."""
    text = series[list(SERIES_KEYS)].astype("str")
    return np.argsort(pd.util.hash_pandas_object(text, index=False).to_numpy(), kind="stable")


def training_series(feature_set: FeatureSet, rows: np.ndarray, max_cells: int | None) -> np.ndarray:
    """The panel rows among ``rows`` (one source's series) to fit on: all of them if their training cells are at
    most ``max_cells`` (or it is None), otherwise those first in hash order whose cells add up to at most
    ``max_cells`` (at least one series), in row order."""
    rows = np.asarray(rows, dtype="int64")
    cells = np.bincount(feature_set.rows, minlength=feature_set.panel.n_series)[rows]
    if max_cells is None or cells.sum() <= max_cells:
        return rows
    by_hash = hash_order(feature_set.panel.series.iloc[rows])
    within = np.cumsum(cells[by_hash]) <= max_cells
    within[0] = True
    return np.sort(rows[by_hash[within]])
