"""Features node: ``model_panel`` -> ``model_features``, the training rows of the forecasting model.

The features themselves are computed by ``engine.feature_matrices`` on the panel's (series x week) matrices
(see engine.py for the list and the no-look-ahead rule); this node lays them out as one row per training cell:
store_code, product_code, week_end_date, units and every feature column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .engine import (
    CategoryVocabulary,
    feature_columns,
    feature_matrices,
    gather,
    resolve_feature_params,
)
from .wide import SERIES_KEYS, TARGET, WEEK, to_wide

KEY_COLUMNS = [*SERIES_KEYS, WEEK, TARGET]


def build_model_features(model_panel: pd.DataFrame, params: Mapping[str, Any] | None) -> pd.DataFrame:
    """Kedro node: one row per series-week that has a previous week in its span, with all feature columns."""
    from sellout.pipelines.forecasting.model import training_cells

    p = resolve_feature_params(params)
    columns = feature_columns(p)
    if model_panel.empty:
        return pd.DataFrame({c: pd.Series(dtype="float32") for c in [*KEY_COLUMNS, *columns]})
    wp = to_wide(model_panel)
    vocabulary = CategoryVocabulary.fit(wp.series)
    rows, cols = training_cells(wp, len(wp.weeks) - 1)
    matrices = feature_matrices(wp, wp.units, p, vocabulary)
    frame = pd.DataFrame(gather(matrices, columns, rows, cols), columns=columns)
    keys = pd.DataFrame(
        {
            "store_code": wp.series["store_code"].to_numpy()[rows],
            "product_code": wp.series["product_code"].to_numpy()[rows],
            WEEK: wp.weeks[cols],
            TARGET: wp.units[rows, cols],
        }
    )
    return pd.concat([keys, frame], axis=1)
