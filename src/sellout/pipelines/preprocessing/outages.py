"""Outages: the weeks a store delivered no row at all, between weeks it delivered rows.

A product missing from a week where its store delivered other products sold nothing (the panel's zero). A
store missing entirely from a week (every one of its products without a row), while it delivered before and
after, is a gap in the data: a closed till system, a lost file, a feed that stopped for half a year. Counting
those weeks as zero sales teaches the model weeks that never happened and scores forecasts against them, so
they are marked ``is_outage`` and their target is missing: not trained on, not scored. What the features of
later weeks read across them is the features' rule (``features.across_outages``).

A store's weeks are those of the sell-out rows it delivered (every product, before the panel drops short
series); weeks before its first or after its last delivery are outside its span, not outages. A daily feed's
incomplete weeks (fewer days reported than the week has, ``is_complete_week`` false) are left out before this
rule, so an incomplete week inside the span is an outage too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sellout.canonical import STORE, WEEK

ONE_WEEK = pd.Timedelta(days=7)


def weekly_grid(spans: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Every week from ``first_week`` to ``last_week`` of each row of ``spans`` (without a loop over rows)."""
    n_weeks = ((spans["last_week"] - spans["first_week"]) // ONE_WEEK).astype("int64") + 1
    rows = spans.loc[spans.index.repeat(n_weeks.to_numpy()), [*keys, "first_week"]]
    offset = rows.groupby(level=0).cumcount().to_numpy()
    weeks = rows["first_week"].to_numpy() + offset * np.timedelta64(7, "D")
    grid = rows[keys].reset_index(drop=True)
    grid[WEEK] = pd.Series(weeks, dtype="datetime64[ns]")
    return grid


def store_outages(observations: pd.DataFrame) -> pd.DataFrame:
    """(store_code, week_end_date) of every store-week without a row between the store's first and last week."""
    delivered = observations[[STORE, WEEK]].drop_duplicates()
    spans = delivered.groupby(STORE, sort=True)[WEEK].agg(first_week="min", last_week="max").reset_index()
    if spans.empty:
        return pd.DataFrame({STORE: pd.Series(dtype="str"), WEEK: pd.Series(dtype="datetime64[ns]")})
    grid = weekly_grid(spans, [STORE])
    merged = grid.merge(delivered, on=[STORE, WEEK], how="left", indicator=True)
    return merged.loc[merged["_merge"] == "left_only", [STORE, WEEK]].reset_index(drop=True)


def mark_outages(panel: pd.DataFrame, outages: pd.DataFrame) -> np.ndarray:
    """True on the panel's rows whose store-week is in ``outages``."""
    if outages.empty:
        return np.zeros(len(panel), dtype=bool)
    flagged = panel[[STORE, WEEK]].merge(outages.assign(_outage=True), on=[STORE, WEEK], how="left")
    return flagged["_outage"].fillna(False).to_numpy(dtype=bool)
