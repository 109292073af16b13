"""Prices and promotions of the forecast weeks: the promotion plan where given, the plan rule elsewhere.

The plan rule ``last_base_price`` (the only one): a future week without a planned row takes the series' last
known base price as both price and base price, no promotion of any kind, and the calendar inputs (days closed,
holidays) of the series' typical week (the median of its last ``CALENDAR_WEEKS`` weeks): the regular shelf
price, not promoted. A planned row wins over the rule column by column where its value is set.

Where those inputs come from is ``forecasting.known_inputs`` (per source): ``rule`` (no plan is delivered: the
rule alone, a plan file's rows for the source are ignored), ``plan`` (the plan, the rule where it has none),
``actual_is_plan`` (the plan is always delivered: production takes the plan, the backtest the actual weeks).
``known_future`` applies it for the backtest and the validation exactly as production does.

Series forecast at an origin: those whose last week in the panel is within ``active_weeks`` of it. The weeks
between such a series' last row and the origin are zero-sales weeks (the panel's "no row = nothing sold"), at
the last price.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

from sellout.canonical import CALENDAR_INPUTS, PRICE_COLUMNS, SELLOUT_FLAGS, SERIES_KEYS, WEEK
from sellout.pipelines.features.wide import DAYS_PER_WEEK, EXOG_COLUMNS, WidePanel

CALENDAR_WEEKS = 13

PLAN_RULES = ("last_base_price",)
PLAN_COLUMNS = [*SERIES_KEYS, WEEK, *EXOG_COLUMNS]


def activate_series(wp: WidePanel, origin_col: int, active_weeks: int) -> np.ndarray:
    """Rows of the active series; their span is extended to the origin with 0 units (in place)."""
    if active_weeks < 1:
        raise ValueError(f"forecasting.active_weeks must be >= 1, got {active_weeks}")
    n_cols = origin_col + 1
    last = n_cols - 1 - np.argmax(wp.in_span[:, :n_cols][:, ::-1], axis=1)
    has_history = wp.in_span[:, :n_cols].any(axis=1)
    rows = np.nonzero(has_history & (last > origin_col - active_weeks))[0]
    for r in rows:  # at most active_weeks - 1 cells per series
        gap = slice(last[r] + 1, n_cols)
        wp.units[r, gap] = 0.0
        wp.in_span[r, gap] = True
        for flag in SELLOUT_FLAGS:
            wp.exog[flag][r, gap] = 0.0
        for col in PRICE_COLUMNS:  # as the panel carries a price into weeks without a row
            wp.exog[col][r, gap] = wp.exog[col][r, last[r]]
    return rows


@contextlib.contextmanager
def known_future(
    wp: WidePanel,
    origin_col: int,
    horizon: int,
    sources: Iterable[tuple[np.ndarray, str]],
    promo_plan: pd.DataFrame | None,
    rule: str,
) -> Iterator[None]:
    """The forecast weeks' inputs of each (rows, known_inputs) as production would have them at the origin,
    for the duration of the block (the panel's actual values are put back after it).

    ``actual_is_plan`` keeps the actual weeks (the plan that is always delivered), ``plan`` applies
    ``promo_plan`` and the rule, ``rule`` the rule alone."""
    future = slice(origin_col + 1, origin_col + horizon + 1)
    saved = {k: v[:, future].copy() for k, v in wp.exog.items()}
    try:
        for rows, known in sources:
            if known == "actual_is_plan" or len(rows) == 0:
                continue
            apply_plan(wp, origin_col, horizon, rows, promo_plan if known == "plan" else None, rule)
        yield
    finally:
        for k, v in saved.items():
            wp.exog[k][:, future] = v


def apply_plan(
    wp: WidePanel,
    origin_col: int,
    horizon: int,
    rows: np.ndarray,
    promo_plan: pd.DataFrame | None = None,
    rule: str = "last_base_price",
) -> None:
    """Fill ``exog`` of weeks origin+1 .. origin+horizon of ``rows`` from the plan, then the rule (in place)."""
    if rule not in PLAN_RULES:
        raise ValueError(f"forecasting.plan_rule must be one of {PLAN_RULES}, got {rule!r}")
    future = slice(origin_col + 1, origin_col + horizon + 1)
    base = _last_known(wp.exog["base_price"][rows, : origin_col + 1])
    recent = slice(max(origin_col + 1 - CALENDAR_WEEKS, 0), origin_col + 1)
    planned = _planned_values(wp, origin_col, horizon, promo_plan)
    for col in EXOG_COLUMNS:
        if col in PRICE_COLUMNS:
            rule_value = base[:, None]
        elif col in CALENDAR_INPUTS:
            rule_value = _median(wp.exog[col][rows, recent])[:, None]
        else:
            rule_value = np.zeros((len(rows), 1))
        values = np.broadcast_to(rule_value, (len(rows), horizon)).copy()
        if planned is not None:
            given = planned[col][rows]
            values = np.where(np.isnan(given), values, given)
        wp.exog[col][rows, future] = values


def _last_known(values: np.ndarray) -> np.ndarray:
    """Each row's last non-NaN value (NaN if none)."""
    known = ~np.isnan(values)
    last = values.shape[1] - 1 - np.argmax(known[:, ::-1], axis=1)
    return np.where(known.any(axis=1), values[np.arange(len(values)), last], np.nan)


def _median(values: np.ndarray) -> np.ndarray:
    """Each row's median of its known values (NaN if none), without numpy's warning on empty rows."""
    out = np.full(len(values), np.nan)
    some = (~np.isnan(values)).any(axis=1)
    if some.any():
        out[some] = np.nanmedian(values[some], axis=1)
    return out


def _planned_values(wp: WidePanel, origin_col: int, horizon: int, promo_plan: pd.DataFrame | None):
    """The plan's values as (n_series x horizon) matrices per column (NaN = not planned), or None."""
    if promo_plan is None or promo_plan.empty:
        return None
    missing = [c for c in [*SERIES_KEYS, WEEK] if c not in promo_plan.columns]
    if missing:
        raise ValueError(f"promo_plan lacks columns {missing} (needs {PLAN_COLUMNS})")
    plan = promo_plan.copy()
    plan[WEEK] = pd.to_datetime(plan[WEEK], errors="coerce")
    bad = plan[WEEK].isna()
    if bad.any():
        raise ValueError(f"promo_plan row {int(np.argmax(bad.to_numpy()))}: week_end_date is not a date")
    for key in SERIES_KEYS:
        plan[key] = plan[key].astype("str")
    duplicated = plan.duplicated([*SERIES_KEYS, WEEK])
    if duplicated.any():
        row = plan.loc[duplicated, [*SERIES_KEYS, WEEK]].iloc[0].to_dict()
        raise ValueError(f"promo_plan has duplicate rows for {row}")
    index = pd.MultiIndex.from_frame(wp.series[list(SERIES_KEYS)].astype("str"))
    series_pos = index.get_indexer(pd.MultiIndex.from_frame(plan[list(SERIES_KEYS)]))
    step = (plan[WEEK] - wp.weeks[origin_col]) // pd.Timedelta(days=7)
    keep = (series_pos >= 0) & (step >= 1) & (step <= horizon)
    out = {}
    for col in EXOG_COLUMNS:
        matrix = np.full((wp.n_series, horizon), np.nan)
        if col in plan.columns:
            values = _numeric(plan[col], col)
            matrix[series_pos[keep], step[keep].to_numpy() - 1] = values[keep.to_numpy()]
        out[col] = matrix
    return out


def _numeric(values: pd.Series, column: str) -> np.ndarray:
    """Plan values as floats; promo flags may be booleans or true/false/1/0 text. Blank = not planned."""
    if column in SELLOUT_FLAGS and not pd.api.types.is_numeric_dtype(values):
        text = values.astype("str").str.strip().str.lower()
        mapped = text.map({"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "nan": np.nan, "": np.nan})
        bad = mapped.isna() & values.notna() & ~text.isin(["nan", "", "none"])
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise ValueError(
                f"promo_plan row {row}: {column} must be true/false or 1/0, got {values.iloc[row]!r}"
            )
        return mapped.to_numpy(dtype="float64")
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() & values.notna()
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise ValueError(f"promo_plan row {row}: {column} must be a number, got {values.iloc[row]!r}")
    if column in CALENDAR_INPUTS:
        outside = (numeric < 0) | (numeric > DAYS_PER_WEEK)
        if outside.any():
            row = int(np.argmax(outside.to_numpy()))
            raise ValueError(
                f"promo_plan row {row}: {column} must be days of the week (0 to {DAYS_PER_WEEK}), "
                f"got {numeric.iloc[row]:g}"
            )
    return numeric.to_numpy(dtype="float64")
