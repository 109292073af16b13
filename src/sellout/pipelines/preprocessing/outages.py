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

ONE_WEEK = pd.Timedelta(days=7)


def outage_weeks(store_no: np.ndarray, week_no: np.ndarray, n_stores: int, n_weeks: int) -> np.ndarray:
    """(n_stores x n_weeks) True where a store delivered no row, between weeks it delivered rows; the rows'
    store numbers ``store_no`` and week numbers ``week_no`` are every sell-out row's."""
    delivered = np.zeros((n_stores, n_weeks), dtype=bool)
    delivered[store_no, week_no] = True
    since_first = np.maximum.accumulate(delivered, axis=1)
    until_last = np.maximum.accumulate(delivered[:, ::-1], axis=1)[:, ::-1]
    return since_first & until_last & ~delivered


def week_dates(week0: pd.Timestamp, week_no: np.ndarray) -> np.ndarray:
    """The dates of week numbers ``week_no`` counted from ``week0``."""
    return np.datetime64(week0, "ns") + (np.asarray(week_no, dtype="int64") * 7).astype("timedelta64[D]")
