"""A sell-out file's good rows as the weekly rows that load: a daily feed's days and any return rows summed into
one row per store, product and week, and the price derived from the sales value where a feed has none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sellout.canonical import (
    DAY,
    DAYS_CLOSED,
    DAYS_REPORTED,
    IS_COMPLETE_WEEK,
    IS_RETURN,
    OPEN,
    PRICE_COLUMNS,
    PRODUCT,
    SALES_VALUE,
    SELLOUT_FLAGS,
    SELLOUT_TEXT_COLUMNS,
    STORE,
    UNITS,
    WEEK,
)
from sellout.config.sources import SelloutFileSpec
from sellout.ingest.conversions import pandas_text, true_mask
from sellout.ingest.duplicates import row_keys


def aggregate_weeks(rows: pd.DataFrame, daily: bool, days_per_week: int) -> pd.DataFrame:
    """One row per store, product and week: measures summed (a return row is added to its week's row), price as
    the units-weighted mean of the trading days (plain mean without units), base price likewise, a flag true if
    any day has it, names the first given. A daily feed's weeks also get the days reported, the closed days, and
    whether the week is complete (its store has lines on ``days_per_week`` days of it, over all its products).
    Vectorised over one key per row."""
    stores = pa.array(rows[STORE].array._pa_array.combine_chunks())
    products = pa.array(rows[PRODUCT].array._pa_array.combine_chunks())
    weeks = rows[WEEK].to_numpy()
    keys = row_keys(stores, products, weeks)
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    n = len(first)
    sale = ~rows[IS_RETURN].to_numpy()
    trading = sale & (rows[OPEN].to_numpy() if daily else True)  # a closed day's price says nothing

    def total(values: np.ndarray, where: np.ndarray | bool = True) -> tuple[np.ndarray, np.ndarray]:
        present = ~np.isnan(values) & where
        sums = np.bincount(group, weights=np.where(present, values, 0.0), minlength=n)
        return sums, np.bincount(group, weights=present, minlength=n)

    out: dict[str, object] = {}
    order = np.argsort(first, kind="stable")  # the weeks in the order of their first line
    take = first[order]
    out["line_no"] = rows["line_no"].to_numpy()[take]
    out[STORE] = pandas_text(stores.take(pa.array(take)))
    out[PRODUCT] = pandas_text(products.take(pa.array(take)))
    out[WEEK] = weeks[take]
    units = rows[UNITS].to_numpy()
    for column in (UNITS, SALES_VALUE):
        sums, counts = total(rows[column].to_numpy())
        out[column] = np.where(counts > 0, sums, np.nan)[order]
    weight = np.where(~np.isnan(units) & trading, np.abs(units), 0.0)
    for column in PRICE_COLUMNS:
        price = rows[column].to_numpy()
        present = ~np.isnan(price) & trading
        weighted = np.bincount(group, weights=np.where(present, price * weight, 0.0), minlength=n)
        weights = np.bincount(group, weights=np.where(present, weight, 0.0), minlength=n)
        plain, count = total(price, trading)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(weights > 0, weighted / weights, np.where(count > 0, plain / count, np.nan))
        out[column] = value[order]
    for flag in SELLOUT_FLAGS:
        out[flag] = (np.bincount(group, weights=rows[flag].to_numpy(), minlength=n) > 0)[order]
    for name in SELLOUT_TEXT_COLUMNS:
        if name in rows:
            values = rows[name].array._pa_array.combine_chunks()
            given = np.flatnonzero(~true_mask(pc.is_null(values)))
            chosen = np.full(n, -1, dtype=np.int64)
            groups_given, first_given = np.unique(group[given], return_index=True)
            chosen[groups_given] = given[first_given]
            picked = values.take(pa.array(np.where(chosen < 0, 0, chosen)))
            out[name] = pandas_text(pc.if_else(pa.array(chosen < 0), pa.scalar(None, pa.string()), picked))
            out[name] = out[name][order]
    all_returns = np.bincount(group, weights=sale, minlength=n)[order] == 0
    out[IS_RETURN] = all_returns | (np.nan_to_num(out[UNITS]) < 0) | (np.nan_to_num(out[SALES_VALUE]) < 0)
    if daily:
        days = rows[DAY].to_numpy().astype("datetime64[D]").astype(np.int64)
        day_keys = group * 8 + (days - weeks.astype("datetime64[D]").astype(np.int64) + 7)  # 1..7 in a week
        _, where_first = np.unique(day_keys, return_index=True)
        reported = np.bincount(group[where_first], minlength=n)
        closed = np.bincount(group[where_first], weights=~rows[OPEN].to_numpy()[where_first], minlength=n)
        out[DAYS_REPORTED] = reported[order].astype(np.int16)
        out[DAYS_CLOSED] = closed[order].astype(np.int16)
        store_days = _store_days_reported(stores, weeks, first, day_keys[where_first], reported)
        out[IS_COMPLETE_WEEK] = store_days[order] >= days_per_week
    frame = pd.DataFrame(out, copy=False)
    frame[WEEK] = frame[WEEK].astype("datetime64[ns]")
    return frame


def _store_days_reported(
    stores: pa.Array, weeks: np.ndarray, first: np.ndarray, group_days: np.ndarray, reported: np.ndarray
) -> np.ndarray:
    """Per week row (its first line ``first``), the days of the week on which its store has any line, over all its
    products: whether the file covers the store's week, not whether each product sold every day (a feed that
    lists only what sold has no line for a product's day without sales). ``group_days``: the week rows' distinct
    days (week row * 8 + day of the week, 1..7); ``reported``: each week row's own days."""
    store_ids = pc.dictionary_encode(stores.take(pa.array(first))).indices.to_numpy(zero_copy_only=False)
    week_days = weeks[first].astype("datetime64[D]").astype(np.int64)
    _, store_week = np.unique(
        store_ids.astype(np.int64) * (week_days.max() + 1) + week_days, return_inverse=True
    )
    if store_week.max() + 1 == len(first):  # one row per store and week (one product): its own days
        return reported
    _, first_of_day = np.unique(store_week[group_days // 8] * 8 + group_days % 8, return_index=True)
    per_store_week = np.bincount(
        store_week[group_days[first_of_day] // 8], minlength=int(store_week.max()) + 1
    )
    return per_store_week[store_week]


def derive_price(rows: pd.DataFrame, spec: SelloutFileSpec) -> pd.DataFrame:
    """No price column: the price is the sales value over the units (``derive_price``), where both are positive
    (no price for a week without units, or one that returns go negative)."""
    if "price" in spec.columns or not spec.derive_price:
        return rows
    if UNITS not in spec.columns or SALES_VALUE not in spec.columns:
        return rows
    units, sales = rows[UNITS].to_numpy(), rows[SALES_VALUE].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rows["price"] = np.where((units > 0) & (sales >= 0), sales / units, np.nan)
    return rows
