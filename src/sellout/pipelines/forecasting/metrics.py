"""The backtest metrics table (``forecast.backtest_metrics``) from the backtest's cells.

Rows are keyed by method, horizon (0 = all horizons together), category ('ALL' = all together), measure (a
WAPE over units and one over sales value are never added up) and segment: 'ALL', or the cells whose target
week was 'promoted' / 'not_promoted' (on deal-driven feeds most units sell in promoted weeks, and a forecaster
can be good on one and poor on the other).

The cells are summed once per (method, horizon, category, measure, promoted); every row of the table adds
those sums up (one pass over the cells instead of one per kind of row).
"""

from __future__ import annotations

import pandas as pd

from .backtest import rates, score_sums

ALL = "ALL"
PROMOTED, NOT_PROMOTED = "promoted", "not_promoted"
KEYS = ["method", "horizon", "category", "measure", "segment"]


def backtest_metrics_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per method x horizon x category x measure, with all-horizon and all-category rows, and the promoted /
    not-promoted rows over all categories."""
    if "measure" not in cells.columns:
        cells = cells.assign(measure="units")
    # dropna=False: the cells of a product without a category count in the 'ALL' rows
    sums = score_sums(cells, ["method", "horizon", "category", "measure", "promoted"], dropna=False)
    sums = sums.assign(segment=ALL)
    everything = sums.assign(category=ALL)
    by_promotion = everything.assign(segment=sums["promoted"].map({True: PROMOTED, False: NOT_PROMOTED}))
    frames = [
        rates(sums, KEYS),
        rates(everything, KEYS),
        rates(sums.assign(horizon=0), KEYS),
        rates(everything.assign(horizon=0), KEYS),
        rates(by_promotion, KEYS),
        rates(by_promotion.assign(horizon=0), KEYS),
    ]
    return pd.concat(frames, ignore_index=True).drop(columns="actual")
