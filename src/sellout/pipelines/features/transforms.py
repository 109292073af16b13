"""Every feature as a small transform: its name, how many weeks back it looks, and its formula twice.

``full(inputs)`` computes the feature at every week column of a panel at once (training, the features stage);
``at(inputs, t)`` computes it at the one column ``t`` (the recursive forecast: only the week it forecasts next,
mlforecast's ``updates_only``). The two formulas sit side by side so that a reader can check they agree, and
tests check it on random panels. ``lookback`` is the number of weeks before ``t`` that ``at`` reads: the
forecast keeps that many weeks of history and no more (mlforecast's ``keep_last_n``).

The feature of cell (series s, week t) uses units of weeks < t only, and prices/promotions of week t and
earlier: prices and promotions of a future week are a plan known in advance (see the forecasting pipeline's
plan rule), units are not. ``reads_plan`` marks the features of week t's own plan: where the source delivers
no plan, production knows nothing of a future week's deals, and the forecaster leaves them out
(``forecasting.known_inputs``); so it does the features that say whether, or how long ago, the weeks just
before t were promoted (``reads_earlier_plan``: weeks_since_promo, the week-before flags): from a forecast's
second week on, those weeks are forecast weeks, and the rule's "no promotion" there would read as a fact. (The
52-week promotion rate and the levels of the promoted and other weeks stay: the rule's few weeks move them little,
and measured, they help.) Units of a store's outage weeks are missing; what the features read there is
``features.across_outages`` (the series' last value before the outage, or nothing).

* lags ``lag_k`` and rolling ``roll_mean_w`` / ``roll_std_w`` of units up to t-1; ``base_units_13``: mean of
  the last 13 weeks without promotion; ``promo_lift_52``: mean units in promoted weeks / in other weeks over
  the last 52 weeks; ``age``: weeks since the series' first week (capped at 52); ``season_ratio_52``: units of
  week t-52 against the mean of the 13 weeks before it (both + 1): last year's seasonal move, free of the
  series' scale and growth, which the level-scaled lags cannot tell apart;
* price and promotion of week t: price, base_price, ``price_ratio`` = price / base_price, ``discount_depth``
  = 1 - price / base_price (the promotion's depth), feature, display, tpr_only, promotion, ``promo_any``,
  ``price_index_52`` = price / mean price of the last 52 weeks; and of week t-1 (``promo_any_lag_1``,
  ``price_ratio_lag_1``), which explain ``lag_1``;
* promotion history: ``weeks_since_promo`` (weeks since the last promoted week before t, 52 if none in the
  last 52), ``promo_frequency_52`` (share of promoted weeks among the last 52), ``promo_units_26`` (mean units
  of the promoted weeks among the last 26) and ``same_state_units`` (the level of the recent weeks in week t's
  own state: promo_units_26 if t is promoted, base_units_13 if not; it reads week t's plan);
* calendar: week_of_year, month, holiday, weeks_to_holiday; and the store-week's known inputs where the feed
  has them: days_closed, holiday_days;
* hierarchy: the product's mean units over stores at t-1 and over weeks t-4..t-1, the category's units in the
  store at t-1 and over t-4..t-1, the product's share of stores with feature / display / a price cut at t, and
  the share of the store's category on promotion at t (``store_category_promo_share``: cannibalisation);
* attributes: store, product, category, manufacturer, sub_category, segment, state (categorical codes) and
  sales_area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sellout.canonical import CALENDAR_INPUTS, NUMERIC_ATTRIBUTES, SELLOUT_FLAGS
from sellout.config.model_parameters import CALENDAR, CATEGORICAL_ATTRIBUTES, FeatureParams

from .calendar import calendar_features
from .vocabulary import CategoryVocabulary
from .wide import (
    WidePanel,
    column,
    group_mean,
    group_sum,
    rolling_mean,
    rolling_std,
    row_mean,
    shift,
    window_mean,
    window_std,
)

# Age is capped: past a year a series is simply established.
MAX_AGE = 52
# A ratio denominator for promo_lift_52: a series that sells nothing outside promotions is not infinitely lifted.
MIN_BASE_UNITS = 0.5
# How far back the promotion history looks (weeks); promoted weeks are rarer than regular ones, so their
# recent level takes a longer window than the regular level.
PROMO_HISTORY_WEEKS = 52
PROMO_UNITS_WEEKS, BASE_UNITS_WEEKS = 26, 13
# The season ratio compares last year's week with the level of the weeks before it, both plus this offset (a
# series selling 0-2 units a week has no seasonal pattern worth a ratio of 0 or 3).
SEASON_WEEKS, SEASON_LEVEL_WEEKS, SEASON_OFFSET = 52, 13, 1.0


def promoted(exog: dict[str, np.ndarray], price_cut: float) -> np.ndarray:
    """True where a week is promoted: a promotion flag, or a price at least ``price_cut`` below base price."""
    base = exog["base_price"]
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = exog["price"] / np.where(base > 0, base, np.nan) < 1.0 - price_cut
    return np.logical_or.reduce([np.nan_to_num(exog[f]) > 0 for f in SELLOUT_FLAGS] + [cut])


class FeatureInputs:
    """What the transforms read: a panel's units (which a recursive forecast writes into) and everything that
    does not change while it does (prices, promotions, calendar, series codes), derived once."""

    def __init__(
        self, panel: WidePanel, units: np.ndarray, price_cut: float, vocabulary: CategoryVocabulary
    ) -> None:
        self.panel, self.units = panel, units
        self.n_series, self.n_weeks = units.shape
        self.price, self.base_price = panel.exog["price"], panel.exog["base_price"]
        self.ratio = self.price / np.where(self.base_price > 0, self.base_price, np.nan)
        self.flags = {f: panel.exog[f] for f in SELLOUT_FLAGS}
        self.price_cut = (self.ratio < 1.0 - price_cut).astype("float64")
        # one flag at a time: a reduce over the list stacked them all into one array first (5 matrices)
        self.promo = self.price_cut.copy()
        for flag in self.flags.values():
            np.fmax(self.promo, flag, out=self.promo)
        # Where a week's plan is known (the panel's rows, a plan or the plan rule): NaN elsewhere.
        self.known_promo = np.where(np.isnan(self.flags["feature"]), np.nan, self.promo)
        self.known_price_cut = np.where(np.isnan(self.ratio), np.nan, self.price_cut)
        self.calendar = calendar_features(panel.weeks)
        self.codes, self.product, self.store_category, self.numeric = _series_inputs(panel, vocabulary)

    def of_rows(self, rows: np.ndarray) -> FeatureInputs:
        """These inputs of the series ``rows`` alone, in that order: what the features of a series' own history
        and plan read (a ``cross_series`` feature needs every series). The units are a copy: a forecast that
        records into these inputs' units sets them again (``ForecastWindow``)."""
        view = object.__new__(FeatureInputs)
        view.panel = self.panel.of_rows(rows)
        view.units = self.units[rows]
        view.n_series, view.n_weeks = len(rows), self.n_weeks
        for name in ("price", "base_price", "ratio", "price_cut", "promo", "known_promo", "known_price_cut"):
            setattr(view, name, getattr(self, name)[rows])
        view.flags = {flag: values[rows] for flag, values in self.flags.items()}
        view.calendar = self.calendar  # per week
        view.codes = {column: codes[rows] for column, codes in self.codes.items()}
        view.product, view.store_category = self.product[rows], self.store_category[rows]
        view.numeric = {column: values[rows] for column, values in self.numeric.items()}
        return view

    def units_where(self, promoted: bool, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Units of the promoted (or the other) weeks of columns lo .. hi-1, NaN elsewhere."""
        lo = max(lo, 0)
        promo = self.promo[:, lo:hi] > 0
        return np.where(promo if promoted else ~promo, self.units[:, lo:hi], np.nan)

    def per_series(self, values: np.ndarray) -> np.ndarray:
        """A value per series as a full matrix (a read-only view)."""
        return np.broadcast_to(values[:, None], (self.n_series, self.n_weeks))

    def per_week(self, values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values[None, :], (self.n_series, self.n_weeks))


@dataclass(frozen=True)
class Transform:
    name: str
    lookback: int
    full: Callable[[FeatureInputs], np.ndarray]
    at: Callable[[FeatureInputs, int], np.ndarray]
    # True: the feature of week t reads week t's plan (prices, promotions, calendar inputs)
    reads_plan: bool = False
    # True: it tells whether, or how long ago, the weeks just before t were promoted: read at a forecast's second
    # week and later, those are forecast weeks too, whose promotions are the plan's (the rule's)
    reads_earlier_plan: bool = False
    # True: a series' feature reads other series (its product's or its store category's); False: only its own
    # row of every input, so that it can be computed on ``FeatureInputs.of_rows``
    cross_series: bool = False


def transforms(params: FeatureParams) -> list[Transform]:
    """Every feature of ``params``, in ``params.all_columns()`` order."""
    return [
        *(_lag(k) for k in params.lags),
        *(_rolling_mean(w) for w in params.rolling_windows),
        *(_rolling_std(w) for w in params.rolling_std_windows),
        *_series_statistics(),
        *_price_promotion(),
        *_promotion_history(),
        *(_calendar(name) for name in CALENDAR),
        *(_calendar_input(name) for name in CALENDAR_INPUTS),
        *_hierarchy(),
        *_attributes(),
    ]


def _lag(k: int) -> Transform:
    return Transform(f"lag_{k}", k, full=lambda i: shift(i.units, k), at=lambda i, t: column(i.units, t - k))


def _rolling_mean(w: int) -> Transform:
    return Transform(
        f"roll_mean_{w}",
        w,
        full=lambda i: rolling_mean(i.units, w),
        at=lambda i, t: window_mean(i.units, t, w),
    )


def _rolling_std(w: int) -> Transform:
    return Transform(
        f"roll_std_{w}", w, full=lambda i: rolling_std(i.units, w), at=lambda i, t: window_std(i.units, t, w)
    )


def _series_statistics() -> list[Transform]:
    def promo_lift_full(i: FeatureInputs) -> np.ndarray:
        base = rolling_mean(i.units_where(False), 52)
        return rolling_mean(i.units_where(True), 52) / np.maximum(base, MIN_BASE_UNITS)

    def promo_lift_at(i: FeatureInputs, t: int) -> np.ndarray:
        promoted, other = row_mean(i.units_where(True, t - 52, t)), row_mean(i.units_where(False, t - 52, t))
        return promoted / np.maximum(other, MIN_BASE_UNITS)

    def age_full(i: FeatureInputs) -> np.ndarray:
        return np.minimum(np.arange(i.n_weeks)[None, :] - i.panel.first[:, None], MAX_AGE).astype("float64")

    def season_full(i: FeatureInputs) -> np.ndarray:
        before = shift(rolling_mean(i.units, SEASON_LEVEL_WEEKS), SEASON_WEEKS)
        return (shift(i.units, SEASON_WEEKS) + SEASON_OFFSET) / (before + SEASON_OFFSET)

    def season_at(i: FeatureInputs, t: int) -> np.ndarray:
        before = window_mean(i.units, t - SEASON_WEEKS, SEASON_LEVEL_WEEKS)
        return (column(i.units, t - SEASON_WEEKS) + SEASON_OFFSET) / (before + SEASON_OFFSET)

    return [
        Transform(
            "base_units_13",
            BASE_UNITS_WEEKS,
            full=lambda i: rolling_mean(i.units_where(False), BASE_UNITS_WEEKS),
            at=lambda i, t: row_mean(i.units_where(False, t - BASE_UNITS_WEEKS, t)),
        ),
        Transform("promo_lift_52", 52, full=promo_lift_full, at=promo_lift_at),
        Transform(
            "age",
            0,
            full=age_full,
            at=lambda i, t: np.minimum(t - i.panel.first, MAX_AGE).astype("float64"),
        ),
        Transform("season_ratio_52", SEASON_WEEKS + SEASON_LEVEL_WEEKS, full=season_full, at=season_at),
    ]


def _of_week(name: str, values: Callable[[FeatureInputs], np.ndarray]) -> Transform:
    """The value of week t's own plan."""
    return Transform(name, 0, full=values, at=lambda i, t: column(values(i), t), reads_plan=True)


def _price_promotion() -> list[Transform]:
    of_week = _of_week

    return [
        of_week("price", lambda i: i.price),
        of_week("base_price", lambda i: i.base_price),
        of_week("price_ratio", lambda i: i.ratio),
        Transform(
            "discount_depth",
            0,
            full=lambda i: np.clip(1.0 - i.ratio, 0.0, None),
            at=lambda i, t: np.clip(1.0 - i.ratio[:, t], 0.0, None),
            reads_plan=True,
        ),
        *(of_week(flag, lambda i, flag=flag: i.flags[flag]) for flag in SELLOUT_FLAGS),
        of_week("promo_any", lambda i: i.promo),
        Transform(
            "price_index_52",
            52,
            full=lambda i: _ratio(i.price, rolling_mean(i.price, 52)),
            at=lambda i, t: _ratio(i.price[:, t], window_mean(i.price, t, 52)),
            reads_plan=True,
        ),
        Transform(
            "promo_any_lag_1",
            1,
            full=lambda i: shift(i.promo, 1),
            at=lambda i, t: column(i.promo, t - 1),
            reads_earlier_plan=True,
        ),
        Transform(
            "price_ratio_lag_1",
            1,
            full=lambda i: shift(i.ratio, 1),
            at=lambda i, t: column(i.ratio, t - 1),
            reads_earlier_plan=True,
        ),
    ]


def _promotion_history() -> list[Transform]:
    weeks = PROMO_HISTORY_WEEKS

    def weeks_since_full(i: FeatureInputs) -> np.ndarray:
        cols = np.arange(i.n_weeks)
        last = np.where(i.promo > 0, cols[None, :], -(weeks + 1))
        np.maximum.accumulate(last, axis=1, out=last)
        since = cols[None, 1:] - last[:, :-1]  # the last promoted week before t
        return np.concatenate(
            [np.full((i.n_series, 1), float(weeks)), np.minimum(since, weeks)], axis=1
        ).astype("float64")

    def weeks_since_at(i: FeatureInputs, t: int) -> np.ndarray:
        block = i.promo[:, max(t - weeks, 0) : max(t, 0)] > 0
        if block.shape[1] == 0:
            return np.full(i.n_series, float(weeks))
        from_end = np.argmax(block[:, ::-1], axis=1) + 1
        return np.where(block.any(axis=1), from_end, weeks).astype("float64")

    def promo_units_at(i: FeatureInputs, t: int) -> np.ndarray:
        return row_mean(i.units_where(True, t - PROMO_UNITS_WEEKS, t))

    def same_state_full(i: FeatureInputs) -> np.ndarray:
        promoted = rolling_mean(i.units_where(True), PROMO_UNITS_WEEKS)
        regular = rolling_mean(i.units_where(False), BASE_UNITS_WEEKS)
        return np.where(i.promo > 0, promoted, regular)

    def same_state_at(i: FeatureInputs, t: int) -> np.ndarray:
        regular = row_mean(i.units_where(False, t - BASE_UNITS_WEEKS, t))
        return np.where(i.promo[:, t] > 0, promo_units_at(i, t), regular)

    return [
        Transform(
            "weeks_since_promo", weeks, full=weeks_since_full, at=weeks_since_at, reads_earlier_plan=True
        ),
        Transform(
            "promo_frequency_52",
            weeks,
            full=lambda i: rolling_mean(i.known_promo, weeks),
            at=lambda i, t: window_mean(i.known_promo, t, weeks),
        ),
        Transform(
            "promo_units_26",
            PROMO_UNITS_WEEKS,
            full=lambda i: rolling_mean(i.units_where(True), PROMO_UNITS_WEEKS),
            at=promo_units_at,
        ),
        Transform(
            "same_state_units",
            max(PROMO_UNITS_WEEKS, BASE_UNITS_WEEKS),
            full=same_state_full,
            at=same_state_at,
            reads_plan=True,
        ),
    ]


def _calendar_input(name: str) -> Transform:
    return _of_week(name, lambda i: i.panel.exog[name])


def _calendar(name: str) -> Transform:
    return Transform(
        name,
        0,
        full=lambda i: i.per_week(i.calendar[name]),
        at=lambda i, t: np.full(i.n_series, i.calendar[name][t]),
    )


def _hierarchy() -> list[Transform]:
    def product_units(i: FeatureInputs, lo: int = 0, hi: int | None = None) -> np.ndarray:
        return group_mean(i.units[:, max(lo, 0) : hi], i.product)

    def store_category_units(i: FeatureInputs, lo: int = 0, hi: int | None = None) -> np.ndarray:
        return group_sum(i.units[:, max(lo, 0) : hi], i.store_category)

    def last_week(aggregate) -> Callable[[FeatureInputs, int], np.ndarray]:
        return lambda i, t: column(aggregate(i, t - 1, t), 0) if t >= 1 else np.full(i.n_series, np.nan)

    def four_weeks(aggregate) -> Callable[[FeatureInputs, int], np.ndarray]:
        return lambda i, t: row_mean(aggregate(i, t - 4, t))

    def product_share(name: str, values: Callable[[FeatureInputs], np.ndarray]) -> Transform:
        """The share of the product's stores where ``values`` is 1 in week t."""
        return Transform(
            name,
            0,
            full=lambda i: group_mean(values(i), i.product),
            at=lambda i, t: group_mean(values(i)[:, t : t + 1], i.product)[:, 0],
            reads_plan=True,
            cross_series=True,
        )

    def lag_and_roll(name: str, aggregate) -> list[Transform]:
        """Last week's level of the aggregate and its 4-week mean."""
        return [
            Transform(
                f"{name}_lag_1",
                1,
                full=lambda i: shift(aggregate(i), 1),
                at=last_week(aggregate),
                cross_series=True,
            ),
            Transform(
                f"{name}_roll_4",
                4,
                full=lambda i: rolling_mean(aggregate(i), 4),
                at=four_weeks(aggregate),
                cross_series=True,
            ),
        ]

    return [
        *lag_and_roll("product_units", product_units),
        *lag_and_roll("store_category_units", store_category_units),
        product_share("product_feature_share", lambda i: i.flags["feature"]),
        product_share("product_display_share", lambda i: i.flags["display"]),
        product_share("product_price_cut_share", lambda i: i.known_price_cut),
        Transform(
            "store_category_promo_share",
            0,
            full=lambda i: group_mean(i.known_promo, i.store_category),
            at=lambda i, t: group_mean(i.known_promo[:, t : t + 1], i.store_category)[:, 0],
            reads_plan=True,
            cross_series=True,
        ),
    ]


def _attributes() -> list[Transform]:
    def per_series(name: str, values: Callable[[FeatureInputs], np.ndarray]) -> Transform:
        return Transform(name, 0, full=lambda i: i.per_series(values(i)), at=lambda i, t: values(i))

    return [
        *(per_series(f"{col}_cat", lambda i, col=col: i.codes[col]) for col in CATEGORICAL_ATTRIBUTES),
        *(per_series(col, lambda i, col=col: i.numeric[col]) for col in NUMERIC_ATTRIBUTES),
    ]


def _series_inputs(panel: WidePanel, vocabulary: CategoryVocabulary) -> tuple:
    """The series' attribute codes, product and store-category groups and numeric attributes. They depend on the
    series alone, so a panel and its windows share them (``WidePanel.series_cache``; read only): a forecast
    window is built for each origin and candidate, and at 20 times dunnhumby the choice of settings spent 3.8 s
    of its 23.5 s (profiled) deriving them again."""
    cache = panel.series_cache()
    cached = cache.get("feature_inputs")
    if cached is not None and (cached[0] is vocabulary or cached[0] == vocabulary):
        return cached[1]
    codes = vocabulary.encode(panel.series)
    product = _dense(codes["product_code"])
    # A series without a category is a category of its own within its store.
    category = np.where(np.isnan(codes["category"]), -1.0 - np.arange(panel.n_series), codes["category"])
    store_category = _dense_pairs(codes["store_code"], category)
    numeric = {col: _numeric_attribute(panel.series, col) for col in NUMERIC_ATTRIBUTES}
    cache["feature_inputs"] = (vocabulary, (codes, product, store_category, numeric))
    return codes, product, store_category, numeric


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, infinite where the denominator is 0 (as numpy divides, without the warning)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / denominator


def _dense(codes: np.ndarray) -> np.ndarray:
    """Consecutive group ids 0..n-1 (NaN codes form one group of their own)."""
    return pd.factorize(pd.Series(codes).fillna(-1.0))[0].astype("int64")


def _dense_pairs(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Consecutive group ids of (first, second) code pairs (NaN codes form groups of their own)."""
    pairs = pd.MultiIndex.from_arrays([pd.Series(first).fillna(-1.0), pd.Series(second).fillna(-1.0)])
    return pd.factorize(pairs)[0].astype("int64")


def _numeric_attribute(series: pd.DataFrame, col: str) -> np.ndarray:
    if col not in series.columns:
        return np.full(len(series), np.nan)
    return pd.to_numeric(series[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
