"""The parameters of ingestion, preprocessing, dbt and promotions (``conf/*/parameters_<stage>.yml``).

Each model's defaults are the only defaults; the YAML files set the values the project runs with. Kedro validates
a node's ``params:<stage>`` input into its model when the session starts (the node's type hint), so a wrong value
stops the run before anything is read or written. Feature and forecasting parameters are in
:mod:`sellout.config.model_parameters`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sellout.config.schema import Strict


class PromotionParams(Strict):
    """When a week counts as promoted (``params:promotion``): a promotion flag is set, or the price is at least
    ``price_cut`` below the base price. Preprocessing (outliers) and the features both use it."""

    price_cut: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05


class IngestionParams(Strict):
    # A file with a larger share of rejected rows is quarantined whole.
    max_rejected_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05


class PanelRules(Strict):
    """What the panel cannot tell by itself (see sellout.pipelines.preprocessing.panel_rules)."""

    unranged_gap_weeks: Annotated[int, Field(ge=1)] | None = None
    launch_weeks: Annotated[int, Field(ge=0)] = 4
    delisted_after_weeks: Annotated[int, Field(ge=1)] = 8
    outlier_mad_threshold: Annotated[float, Field(gt=0.0)] = 10.0
    outlier_action: Literal["cap", "keep"] = "cap"


class OutageParams(Strict):
    """Weeks a store delivered nothing for, between weeks it delivered: a data outage, not zero sales (see
    sellout.pipelines.preprocessing.outages)."""

    # store_weeks: such a store-week is an outage (is_outage; its target is missing: neither trained on nor
    # scored); off: it is zero sales like any other week without a row.
    detect: Literal["store_weeks", "off"] = "store_weeks"


class PreprocessingParams(Strict):
    min_weeks_history: Annotated[int, Field(ge=1)] = 8
    clip_negative_units: bool = True
    # Where a feed gives no base price, it is the highest price of the series' unpromoted weeks among the last
    # this many weeks (the week itself included): a promotion's depth is measured against it.
    base_price_weeks: Annotated[int, Field(ge=1)] = 13
    outages: OutageParams = OutageParams()
    rules: PanelRules = PanelRules()


class DbtParams(Strict):
    # dbt node selection for both commands (null: every model), and what to leave out.
    select: list[str] | str | None = None
    exclude: list[str] | str | None = None
    full_refresh_on_full_mode: bool = True
    vars: dict[str, object] = {}
    # Models and tests dbt runs at once (dbt --threads): each is a query in its own database connection, so
    # more than one keeps the database's cores busy while dbt waits for one query.
    threads: Annotated[int, Field(ge=1)] = 4


class RunControlParams(Strict):
    """How runs share one database (``params:run_control``; ``sellout run --no-wait`` sets ``lock: refuse``)."""

    # A second run waits for the run that holds the database (saying for whom and since when), or refuses.
    lock: Literal["wait", "refuse"] = "wait"
    lock_poll_s: Annotated[float, Field(gt=0)] = 5.0
    # null: wait as long as it takes
    lock_timeout_s: Annotated[float, Field(gt=0)] | None = None
    # A run stamps its heartbeat this often; a run still "running" without one for abandoned_after_s is abandoned.
    heartbeat_s: Annotated[float, Field(gt=0)] = 30.0
    abandoned_after_s: Annotated[float, Field(ge=0)] = 120.0
