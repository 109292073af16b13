"""The backtest metrics table (``forecast.backtest_metrics``) from the backtest's cells.

Rows are keyed by method, horizon (0 = all horizons together), category ('ALL' = all together), measure (a
WAPE over units and one over sales value are never added up) and segment: 'ALL', or the cells whose target
week was 'promoted' / 'not_promoted' (on deal-driven feeds most units sell in promoted weeks, and a forecaster
can be good on one and poor on the other).

The cells are summed once per (method, horizon, category, measure, promoted); every row of the table adds
those sums up (one pass over the cells instead of one per kind of row).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALL = "ALL"
PROMOTED, NOT_PROMOTED = "promoted", "not_promoted"
KEYS = ["method", "horizon", "category", "measure", "segment"]
_SUMS = ["abs_err", "err", "actual", "scaled", "n_scaled", "n_cells"]


def backtest_metrics_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per method x horizon x category x measure, with all-horizon and all-category rows, and the promoted /
    not-promoted rows over all categories."""
    if "measure" not in cells.columns:
        cells = cells.assign(measure="units")
    sums = _sums(cells)
    segment = sums["promoted"].map({True: PROMOTED, False: NOT_PROMOTED})
    everything = sums.assign(category=ALL)
    by_promotion = everything.assign(segment=segment)
    frames = [
        _rates(sums),
        _rates(everything),
        _rates(sums.assign(horizon=0)),
        _rates(everything.assign(horizon=0)),
        _rates(by_promotion),
        _rates(by_promotion.assign(horizon=0)),
    ]
    return pd.concat(frames, ignore_index=True)


def _sums(cells: pd.DataFrame) -> pd.DataFrame:
    """Sums of |error|, error, actual, the MASE terms and the cell count per key and promoted flag."""
    error = cells["forecast"].to_numpy(dtype="float64") - cells["actual"].to_numpy(dtype="float64")
    scale = cells["scale"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(scale > 0, np.abs(error) / scale, np.nan)
    terms = pd.DataFrame(
        {
            "abs_err": np.abs(error),
            "err": error,
            "actual": cells["actual"].to_numpy(dtype="float64"),
            "scaled": np.nan_to_num(scaled),
            "n_scaled": ~np.isnan(scaled),
            "n_cells": 1,
        }
    )
    keys = [cells[k].reset_index(drop=True) for k in ["method", "horizon", "category", "measure", "promoted"]]
    sums = terms.groupby(keys, sort=True, observed=True, dropna=False).sum().reset_index()
    return sums.assign(segment=ALL)


def _rates(sums: pd.DataFrame) -> pd.DataFrame:
    agg = sums.groupby(KEYS, sort=True, observed=True)[_SUMS].sum().reset_index()
    denom = agg["actual"].where(agg["actual"] > 0)
    agg["wape"] = agg["abs_err"] / denom
    agg["bias"] = agg["err"] / denom
    agg["mase"] = agg["scaled"] / agg["n_scaled"].where(agg["n_scaled"] > 0)
    agg["n_cells"] = agg["n_cells"].astype("int64")
    return agg[[*KEYS, "wape", "bias", "mase", "n_cells"]]
