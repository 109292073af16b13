"""Which series' training cells the feature set holds when a source's history is larger than a fit needs.

A fit's time and memory grow with its training cells; its accuracy stops growing long before (a global model
learns what the series share, and a retailer's ten-thousandth series teaches it little that the first thousands
did not). Past ``features.max_training_cells`` a source's model is therefore fitted on a sample of its series,
and still forecasts every series (a forecast computes its features from the panel, not from the training
cells). The features stage computes the training cells of the sample only: unsampled, the model matrix is a
run's largest array (11.4 million cells x 35 float32 features at 20 times dunnhumby: 1.6 GB by its shape).

The sample is stable from one week to the next: series are taken in the order of a hash of their keys (not of
their row number, which a new store or product shifts) until the cells run out, so a new week drops at most the
few series at the margin and a refresh keeps most of its base's rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sellout.canonical import SERIES_KEYS

from .wide import WidePanel


def hash_order(series: pd.DataFrame) -> np.ndarray:
    """The positions of ``series``' rows in the order of a hash of their keys (the same on any run)."""
    text = series[list(SERIES_KEYS)].astype("str")
    return np.argsort(pd.util.hash_pandas_object(text, index=False).to_numpy(), kind="stable")


def sampled_series(panel: WidePanel, cell_rows: np.ndarray, max_cells: int | None) -> np.ndarray:
    """Per series of ``panel``, whether its training cells (one entry of ``cell_rows``, the cells' series, per
    cell) are kept: every series of a source whose cells are at most ``max_cells`` (or if it is None),
    otherwise the source's series first in hash order whose cells add up to at most ``max_cells`` (at least
    one)."""
    kept = np.ones(panel.n_series, dtype=bool)
    if max_cells is None:
        return kept
    cells = np.bincount(cell_rows, minlength=panel.n_series)
    sources = panel.sources
    for source in sorted(set(sources)):
        rows = np.flatnonzero(sources == source)
        if cells[rows].sum() <= max_cells:
            continue
        by_hash = rows[hash_order(panel.series.iloc[rows])]
        within = np.cumsum(cells[by_hash]) <= max_cells
        within[0] = True
        kept[by_hash[~within]] = False
    return kept
