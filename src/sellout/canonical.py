"""One name per concept: the columns, keys and statuses that YAML, Python, SQL and the docs share.

A sell-out row is one store x product x week; a series is one store x product; a week is named by its end date.
"""

from __future__ import annotations

# -- the canonical sell-out row (what every retailer's file is mapped to) -------------------------------------
WEEK = "week_end_date"
STORE = "store_code"
PRODUCT = "product_code"
SERIES_KEYS = (STORE, PRODUCT)
UNITS = "units"
SALES_VALUE = "sales_value"
PRICE_COLUMNS = ("price", "base_price")
PROMO_FLAGS = ("feature", "display", "tpr_only")
CANONICAL_SELLOUT_COLUMNS = (WEEK, STORE, PRODUCT, UNITS, SALES_VALUE, *PRICE_COLUMNS, *PROMO_FLAGS)
REQUIRED_SELLOUT_COLUMNS = (WEEK, STORE, PRODUCT, UNITS)
NUMERIC_SELLOUT_COLUMNS = (UNITS, SALES_VALUE, *PRICE_COLUMNS)

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
MANIFEST_STATUSES = (LOADED, QUARANTINED, DUPLICATE)
