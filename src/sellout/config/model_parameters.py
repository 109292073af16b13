"""The parameters of the features and the forecasting model (``params:features``, ``params:forecasting``).

Each model's defaults are the only defaults, and ``conf/base/parameters_features.yml`` /
``parameters_forecasting.yml`` state the same values (a test holds them together). Kedro validates a node's
``params:features`` / ``params:forecasting`` input into its model when the session starts (the node's type
hint), so a wrong value stops the run before anything is read or written; nodes call ``Model.of(params)`` so
that a test may pass a plain dict.

The names of the feature columns are declared here because ``features.exclude`` is checked against them; the
features stage (``sellout.pipelines.features.transforms``) computes exactly these columns.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from sellout.canonical import (
    CALENDAR_INPUTS,
    NUMERIC_ATTRIBUTES,
    PRODUCT_ATTRIBUTES,
    SERIES_KEYS,
    STORE_ATTRIBUTES,
)
from sellout.config.schema import Strict

# -- feature columns, in the model's column order ---------------------------------------------------------------
# season_ratio_52: last year's same week against the 13 weeks before it (yearly seasonality, scale-free).
SERIES_STATISTICS = ("base_units_13", "promo_lift_52", "age", "season_ratio_52")
PRICE_PROMOTION = (
    "price",
    "base_price",
    "price_ratio",
    "discount_depth",
    "feature",
    "display",
    "tpr_only",
    "promotion",
    "promo_any",
    "price_index_52",
    "promo_any_lag_1",
    "price_ratio_lag_1",
)
# What a series' own promotion history says about the next deal: weeks since its last promoted week, the
# share of promoted weeks in the last 52, its mean units in the promoted weeks of the last 26, and that of the
# recent weeks in the same state as the forecast week (promoted: promo_units_26, not: base_units_13).
PROMOTION_HISTORY = ("weeks_since_promo", "promo_frequency_52", "promo_units_26", "same_state_units")
CALENDAR = ("week_of_year", "month", "holiday", "weeks_to_holiday")
HIERARCHY = (
    "product_units_lag_1",
    "product_units_roll_4",
    "store_category_units_lag_1",
    "store_category_units_roll_4",
    "product_feature_share",
    "product_display_share",
    "product_price_cut_share",
    # the share of the store's category promoted in the week: a deal next door takes sales (cannibalisation)
    "store_category_promo_share",
)
# Series attributes the model sees as categories (column ``<attribute>_cat``) or as numbers.
CATEGORICAL_ATTRIBUTES = (
    *SERIES_KEYS,
    *PRODUCT_ATTRIBUTES,
    *(a for a in STORE_ATTRIBUTES if a not in NUMERIC_ATTRIBUTES),
)
ATTRIBUTE_FEATURES = (*(f"{a}_cat" for a in CATEGORICAL_ATTRIBUTES), *NUMERIC_ATTRIBUTES)
CATEGORICAL_FEATURES = (*(f"{a}_cat" for a in CATEGORICAL_ATTRIBUTES), "holiday")

# LightGBM objectives whose prediction is exp(raw score), and those whose prediction is the raw score itself: a
# refresh fits rounds on top of the raw scores of the last full fit, so it needs to know the link.
LOG_LINK_OBJECTIVES = frozenset({"tweedie", "poisson", "gamma"})
IDENTITY_LINK_OBJECTIVES = frozenset(
    {"regression", "regression_l2", "l2", "mse", "regression_l1", "l1", "huber", "fair", "quantile", "mape"}
)

# Groups of feature columns a candidate configuration may leave out (forecasting.selection); the lags and
# rolling means of the series' own history are never left out.
FEATURE_GROUPS = {
    "promotion": (*PRICE_PROMOTION, *PROMOTION_HISTORY, "promo_lift_52", "base_units_13"),
    "calendar": (*CALENDAR, *CALENDAR_INPUTS),
    "hierarchy": HIERARCHY,
    "attributes": ATTRIBUTE_FEATURES,
}

# Features computed but left out of the model by default. Most repeat what another model feature says: lag_3
# and lag_4 (roll_mean_4), month (week_of_year), price_ratio and price_ratio_lag_1 (discount_depth), promo_any
# and promo_any_lag_1 (the flags and the promotion history), base_price (price), weeks_to_holiday (holiday),
# the store's state and the product's category and sub-category (the store and product codes identify them),
# the 4-week hierarchy means (their last week). The others are second-order statistics of the lags and rolling
# means (roll_std_13, promo_lift_52, age) or a store's size (sales_area, absent from most feeds). LightGBM's
# cost grows with rows x features, so each one left out is training time saved.
DEFAULT_EXCLUSIONS = (
    "state_cat",
    "sales_area",
    "sub_category_cat",
    "month",
    "lag_3",
    "lag_4",
    "promo_lift_52",
    "category_cat",
    "roll_std_13",
    "base_price",
    "store_category_units_roll_4",
    "product_units_roll_4",
    "weeks_to_holiday",
    "promo_any_lag_1",
    "price_ratio",
    "age",
    "promo_any",
    "price_ratio_lag_1",
)

Positive = Annotated[int, Field(ge=1)]
# Features measured in units of the series (divided by the level when the target is scaled).
UNIT_FEATURE_PREFIXES = ("lag_", "roll_mean_", "roll_std_", "base_units_", "promo_units_", "same_state_units")


class FeatureParams(Strict):
    """Lags and rolling windows of weekly units (weeks), and the feature columns left out of the model."""

    # The defaults go through the validators too (sorted, unique), so that they equal the same values from YAML.
    model_config = ConfigDict(validate_default=True)

    # lag_k at week t = units at t-k of the same series; the smallest lag must be 1.
    lags: list[Positive] = [1, 2, 3, 4, 52]
    # roll_mean_w / roll_std_w at week t: mean / standard deviation of units over t-w .. t-1.
    rolling_windows: list[Annotated[int, Field(ge=2)]] = [4, 8, 13, 26, 52]
    rolling_std_windows: list[Annotated[int, Field(ge=2)]] = [13]
    exclude: list[str] = list(DEFAULT_EXCLUSIONS)
    # What lags, rolling means and aggregates read in a store's outage weeks (no data, not zero sales):
    # "carry" = the series' last value before the outage (a store back from an outage sells at its level
    # before it), "skip" = nothing (a lag is missing, a rolling mean averages the weeks that have data).
    across_outages: Literal["carry", "skip"] = "carry"
    # Where a feed says how many days a store was closed in a week (a daily feed's weeks), the model learns and
    # the features read units per open day (times 7), and a forecast is that times the week's open days / 7.
    # A week closed throughout says nothing of demand: not trained on, carried over as an outage.
    per_open_day: bool = True
    # A source whose training cells are more than this is fitted on a stable sample of its series that holds at
    # most this many (features/sampling.py); every series is still forecast. null: every series.
    max_training_cells: Positive | None = 2_000_000

    @field_validator("lags", "rolling_windows", "rolling_std_windows", "exclude")
    @classmethod
    def _sorted_unique(cls, values: list) -> list:
        return sorted(set(values))

    @field_validator("lags")
    @classmethod
    def _lag_one_first(cls, lags: list[int]) -> list[int]:
        if not lags or lags[0] != 1:
            raise ValueError("lags must be weeks starting with 1 (every training week has a lag_1)")
        return lags

    @model_validator(mode="after")
    def _exclude_known_columns(self) -> FeatureParams:
        unknown = sorted(set(self.exclude) - set(self.all_columns()))
        if unknown:
            raise ValueError(f"exclude names unknown feature columns {unknown}")
        return self

    def all_columns(self) -> list[str]:
        """Every feature column these parameters define, in the model's column order."""
        return [
            *(f"lag_{k}" for k in self.lags),
            *(f"roll_mean_{w}" for w in self.rolling_windows),
            *(f"roll_std_{w}" for w in self.rolling_std_windows),
            *SERIES_STATISTICS,
            *PRICE_PROMOTION,
            *PROMOTION_HISTORY,
            *CALENDAR,
            *CALENDAR_INPUTS,
            *HIERARCHY,
            *ATTRIBUTE_FEATURES,
        ]

    def model_columns(self) -> list[str]:
        """The model's input columns: every column but the excluded ones, in a fixed order."""
        excluded = set(self.exclude)
        return [c for c in self.all_columns() if c not in excluded]


class BacktestParams(Strict):
    # Rolling origins: the `origins` weeks before the last week (T-n .. T-1).
    origins: Positive = 13
    # Fewer origins on a shorter panel: the first keeps this many weeks to fit on.
    min_training_weeks: Annotated[int, Field(ge=2)] = 8
    # Horizons 1..`horizon` scored (those on or before the last week).
    horizon: Positive = 4
    moving_average_weeks: Positive = 4


class IntervalParams(Strict):
    lower: float = 0.1
    upper: float = 0.9

    @model_validator(mode="after")
    def _ordered(self) -> IntervalParams:
        if not 0.0 < self.lower < 0.5 < self.upper < 1.0:
            raise ValueError(
                f"interval quantiles must satisfy 0 < lower < 0.5 < upper < 1, got {self.lower}, {self.upper}"
            )
        return self


class QualityGateParams(Strict):
    # Absolute WAPE points the model may be worse than the best baseline / the last published model.
    margin: Annotated[float, Field(ge=0.0)] = 0.0
    last_published_margin: Annotated[float, Field(ge=0.0)] = 0.02


class LightGBMParams(Strict):
    """``lightgbm.train`` settings; n_estimators = boosting rounds, min_child_samples = min_data_in_leaf."""

    objective: str = "tweedie"
    tweedie_variance_power: Annotated[float, Field(ge=1.0, lt=2.0)] = 1.2
    # The Huber loss is squared within this distance of the target and absolute beyond it; on a level-scaled
    # target (target_scale) it is a share of the series' level.
    huber_delta: Annotated[float, Field(gt=0.0)] = 0.15
    n_estimators: Positive = 300
    learning_rate: Annotated[float, Field(gt=0.0)] = 0.05
    num_leaves: Annotated[int, Field(ge=2)] = 63
    min_child_samples: Annotated[int, Field(ge=1)] = 20
    feature_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    bagging_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    bagging_freq: Annotated[int, Field(ge=0)] = 0
    lambda_l2: Annotated[float, Field(ge=0.0)] = 0.0
    max_bin: Annotated[int, Field(ge=2)] = 255
    # 0: OpenMP's default (every core). The fits are deterministic whatever the count (lgbm_train_params).
    num_threads: Annotated[int, Field(ge=0)] = 0
    seed: int = 42
    # Any other lightgbm.train parameter, passed as given.
    extra: dict[str, Any] = {}


class RefitParams(Strict):
    """When the model is fitted in full and when it is only refreshed (see forecasting/training.py)."""

    full_every_weeks: Positive = 13
    refresh_rounds: Annotated[int, Field(ge=0)] = 40

    def refreshes(self, weeks_since_full_fit: int) -> bool:
        """True if a model fully fitted ``weeks_since_full_fit`` weeks ago is refreshed rather than refitted."""
        return self.refresh_rounds > 0 and 0 < weeks_since_full_fit < self.full_every_weeks


class TargetScaleParams(Strict):
    # Unit-valued model features whose mean (+ offset) is a cell's level (forecasting/target_scale.py).
    features: list[str] = ["roll_mean_4", "roll_mean_13"]
    offset: Annotated[float, Field(gt=0.0)] = 1.0

    @field_validator("features")
    @classmethod
    def _unit_valued(cls, features: list[str]) -> list[str]:
        not_units = [f for f in features if not f.startswith(UNIT_FEATURE_PREFIXES)]
        if not_units:
            raise ValueError(f"features must be unit-valued (lags, rolling means), got {not_units}")
        return features


# Where the prices, promotions and calendar inputs of the weeks being forecast come from, in production and so
# in the backtest: "rule" = no plan is delivered: the plan rule (no promotion); "plan" = the source delivers a
# promo plan: its rows, the rule where it has none; "actual_is_plan" = a plan is always delivered and is what
# then happens: the backtest takes the actual weeks' values as the plan, production the plan.
KnownInputs = Literal["rule", "plan", "actual_is_plan"]
Objective = Literal["tweedie", "poisson", "regression", "regression_l1", "huber"]


class CandidateParams(Strict):
    """A candidate configuration: the base settings (``forecasting.lightgbm``, ``target_scale``) with changes."""

    name: Annotated[str, Field(min_length=1)]
    objective: Objective | None = None
    # false: the model learns the raw target (no level scaling); null: the base setting.
    scale_target: bool | None = None
    # Feature groups (model_parameters.FEATURE_GROUPS) left out.
    drop_groups: list[Literal["promotion", "calendar", "hierarchy", "attributes"]] = []


DEFAULT_CANDIDATES = (
    CandidateParams(name="scaled_tweedie"),
    CandidateParams(name="raw_tweedie", scale_target=False),
    CandidateParams(name="scaled_huber", objective="huber"),
    CandidateParams(name="own_history", drop_groups=["hierarchy", "attributes"]),
)


class SelectionParams(Strict):
    """The choice of a configuration per source, at full-fit time, on a validation window that ends before
    the backtest's first origin (forecasting/selection.py)."""

    # The first candidate is the default: another one is chosen only if its validation WAPE is lower by more
    # than `min_gain` (relative). An empty list or a single candidate: no choice, the base settings.
    candidates: list[CandidateParams] = list(DEFAULT_CANDIDATES)
    min_gain: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    # Validation: each candidate is fitted once, `validation_origins` weeks before the backtest's horizon ends
    # ahead of its first origin, and forecasts from each of those origins (horizons 1..backtest.horizon).
    validation_origins: Positive = 8
    # Series per source the candidates are fitted and validated on (an even sample of the series; null: all).
    max_series: Positive | None = 1000
    # A source with fewer training rows before the validation window keeps the default.
    min_training_rows: Positive = 2000
    # Boosting rounds of each candidate's fit, at a learning rate raised to keep learning_rate x rounds (a
    # cheaper fit that ranks the candidates; null: the model's own rounds and rate).
    rounds: Positive | None = 60

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, candidates: list[CandidateParams]) -> list[CandidateParams]:
        names = [c.name for c in candidates]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names must be unique, got {names}")
        return candidates


class ForecastingParams(Strict):
    # Weeks ahead to forecast after the panel's last week (the origin).
    horizon: Positive = 8
    # A series is forecast if its last panel week is within the last `active_weeks` weeks up to the origin.
    active_weeks: Positive = 4
    # Train on the last `train_weeks` weeks before the origin only (null: all history).
    train_weeks: Positive | None = None
    # null: the model learns raw units.
    target_scale: TargetScaleParams | None = TargetScaleParams()
    plan_rule: Literal["last_base_price"] = "last_base_price"
    known_inputs: KnownInputs = "rule"
    # Sources whose known inputs come from elsewhere than `known_inputs` says.
    known_inputs_by_source: dict[str, KnownInputs] = {}
    selection: SelectionParams = SelectionParams()
    lightgbm: LightGBMParams = LightGBMParams()
    # Independent fits (the backtest's refreshes of one full fit, the selection's candidates) run this many at a
    # time, LightGBM's threads (lightgbm.num_threads; 0 = every core) shared among them; null: one per thread.
    # Their models are the same either way (to rounding: forecasting/parallel.py).
    parallel_fits: Positive | None = None
    refit: RefitParams = RefitParams()
    backtest: BacktestParams = BacktestParams()
    intervals: IntervalParams = IntervalParams()
    quality_gate: QualityGateParams = QualityGateParams()

    def known_inputs_of(self, source: str) -> str:
        """Where the forecast weeks' prices and promotions of ``source`` come from."""
        return self.known_inputs_by_source.get(source, self.known_inputs)

    @model_validator(mode="after")
    def _refresh_needs_a_known_link(self) -> ForecastingParams:
        objective = self.lightgbm.objective
        known = objective in LOG_LINK_OBJECTIVES or objective in IDENTITY_LINK_OBJECTIVES
        if self.refit.refresh_rounds > 0 and not known:
            raise ValueError(
                f"refit.refresh_rounds needs a LightGBM objective whose link is known (tweedie, poisson, "
                f"gamma or a regression objective), not {objective!r}; set refresh_rounds: 0"
            )
        return self
