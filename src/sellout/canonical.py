"""One name per concept: the columns, keys and statuses that YAML, Python, SQL and the docs share.

A sell-out row is one store x product x week; a series is one store x product; a week is named by its end date.
"""

from __future__ import annotations

# -- the canonical sell-out row (what every retailer's file is mapped to) -------------------------------------
WEEK = "week_end_date"
DAY = "date"  # the day of a daily feed's row; ingestion aggregates days into the retailer's weeks
STORE = "store_code"
PRODUCT = "product_code"
SERIES_KEYS = (STORE, PRODUCT)
UNITS = "units"
SALES_VALUE = "sales_value"
# What a source's rows count: units when the feed has them, else its sales value (a value-only feed).
MEASURES = (UNITS, SALES_VALUE)
PRICE_COLUMNS = ("price", "base_price")
PROMO_FLAGS = ("feature", "display", "tpr_only")
PROMOTION = "promotion"  # a generic "on promotion" flag, for feeds that do not say which kind
SELLOUT_FLAGS = (*PROMO_FLAGS, PROMOTION)
STORE_NAME = "store_name"
PRODUCT_DESCRIPTION = "product_description"
SELLOUT_TEXT_COLUMNS = (STORE_NAME, PRODUCT_DESCRIPTION)  # names a feed may carry beside its codes
OPEN = "open"  # daily feeds: was the store open that day (a closed day is recorded, not dropped)
CANONICAL_SELLOUT_COLUMNS = (
    WEEK,
    STORE,
    PRODUCT,
    UNITS,
    SALES_VALUE,
    *PRICE_COLUMNS,
    *PROMO_FLAGS,
    PROMOTION,
    *SELLOUT_TEXT_COLUMNS,
)
DAILY_ONLY_COLUMNS = (DAY, OPEN)
# What a sources.yml `columns:` block may map (a daily feed maps `date` instead of `week_end_date`).
MAPPABLE_SELLOUT_COLUMNS = (*CANONICAL_SELLOUT_COLUMNS, *DAILY_ONLY_COLUMNS)
# Required: the week (or day), the store, the product (a column or a constant) and one measure.
REQUIRED_SELLOUT_COLUMNS = (WEEK, STORE, PRODUCT)
NUMERIC_SELLOUT_COLUMNS = (UNITS, SALES_VALUE, *PRICE_COLUMNS)
# What ingestion adds to each row: the measure the source carries, a return flag, and for daily feeds how
# many days the week has (reported, closed) and whether it is complete.
MEASURE = "measure"
IS_RETURN = "is_return"
DAYS_REPORTED = "days_reported"
DAYS_CLOSED = "days_closed"
IS_COMPLETE_WEEK = "is_complete_week"
LINE_COLUMNS = (MEASURE, IS_RETURN, DAYS_REPORTED, DAYS_CLOSED, IS_COMPLETE_WEEK)
# Known-in-advance calendar inputs of a store-week where a feed has them: days closed (a daily feed's weeks)
# and public holidays in the week.
HOLIDAY_DAYS = "holiday_days"
CALENDAR_INPUTS = (DAYS_CLOSED, HOLIDAY_DAYS)
# The source (sources.yml key) a row came from; a panel without the column is one source.
SOURCE = "source"
DEFAULT_SOURCE = "default"

# -- master data ----------------------------------------------------------------------------------------------
STORE_FIELDS = (STORE, "store_name", "city", "state", "segment", "sales_area")
PRODUCT_FIELDS = (PRODUCT, "description", "manufacturer", "category", "sub_category", "product_size")
# The attributes of a series the model may use (one value per series).
STORE_ATTRIBUTES = ("segment", "state", "sales_area")
PRODUCT_ATTRIBUTES = ("category", "manufacturer", "sub_category")
NUMERIC_ATTRIBUTES = ("sales_area",)

# -- the ingestion manifest (ops.ingested_files) ----------------------------------------------------------------
FILE_KINDS = ("stores", "products", "sellout")  # master data first, so sell-out rows find their codes
LOADED, QUARANTINED, DUPLICATE = "loaded", "quarantined", "duplicate"
# The one list of manifest statuses: the table's check constraint (sellout.datasets.raw_tables), the loader and
# dbt's accepted_values tests (the dbt runner passes it as the var `manifest_statuses`) all read it.
MANIFEST_STATUSES = (LOADED, QUARANTINED, DUPLICATE)
