"""The backtest metrics table (``forecast.backtest_metrics``) from the backtest's cells.

Rows are keyed by method, horizon (0 = all horizons together), category ('ALL' = all together), measure (a
WAPE over units and one over sales value are never added up) and segment: 'ALL', or the cells whose target
week was 'promoted' / 'not_promoted' (on deal-driven feeds most units sell in promoted weeks, and a forecaster
can be good on one and poor on the other).
"""

from __future__ import annotations

import pandas as pd

from .backtest import score

ALL = "ALL"
PROMOTED, NOT_PROMOTED = "promoted", "not_promoted"
KEYS = ["method", "horizon", "category", "measure", "segment"]


def backtest_metrics_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per method x horizon x category x measure, with all-horizon and all-category rows, and the promoted /
    not-promoted rows over all categories."""
    cells = cells.assign(segment=ALL)
    if "measure" not in cells.columns:
        cells = cells.assign(measure="units")
    everything = cells.assign(category=ALL)
    by_promotion = everything.assign(segment=cells["promoted"].map({True: PROMOTED, False: NOT_PROMOTED}))
    frames = [
        score(cells, KEYS),
        score(everything, KEYS),
        score(cells.assign(horizon=0), KEYS),
        score(everything.assign(horizon=0), KEYS),
        score(by_promotion, KEYS),
        score(by_promotion.assign(horizon=0), KEYS),
    ]
    return pd.concat(frames, ignore_index=True).drop(columns="actual")
