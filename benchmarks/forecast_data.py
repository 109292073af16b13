"""The issue's benchmark panel: units per store x UPC x week of the whole dunnhumby set, read from the files.

Same columns as the pipeline's ``sellout_weekly`` (the dbt mart) joined with store and product attributes, then
the preprocessing pipeline's ``build_model_panel`` (a week with no row inside a series' span = 0 units). Every
series is kept (``min_weeks_history: 1``): the issue's protocol scores the whole set.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sellout.canonical import PROMO_FLAGS, WEEK
from sellout.pipelines.preprocessing.nodes import build_model_panel

TRANSACTION_COLUMNS = {
    "WEEK_END_DATE": "week_end_date",
    "STORE_NUM": "store_code",
    "UPC": "product_code",
    "UNITS": "units",
    "SPEND": "sales_value",
    "PRICE": "price",
    "BASE_PRICE": "base_price",
    "FEATURE": "feature",
    "DISPLAY": "display",
    "TPR_ONLY": "tpr_only",
}
STORE_COLUMNS = {"STORE_ID": "store_code", "ADDRESS_STATE_PROV_CODE": "state", "SEG_VALUE_NAME": "segment"}
STORE_COLUMNS["SALES_AREA_SIZE_NUM"] = "sales_area"
PRODUCT_COLUMNS = {
    "UPC": "product_code",
    "MANUFACTURER": "manufacturer",
    "CATEGORY": "category",
    "SUB_CATEGORY": "sub_category",
}


def load_dunnhumby_panel(directory: Path) -> pd.DataFrame:
    """The model panel of every series in ``directory``'s transactions.csv.gz, stores.csv and products.csv."""
    tx = pd.read_csv(
        directory / "transactions.csv.gz",
        usecols=list(TRANSACTION_COLUMNS),
        dtype={"STORE_NUM": "str", "UPC": "str"},
    ).rename(columns=TRANSACTION_COLUMNS)
    tx[WEEK] = pd.to_datetime(tx[WEEK], format="%Y-%m-%d")
    for flag in PROMO_FLAGS:
        tx[flag] = tx[flag].fillna(0).astype(bool)
    stores = pd.read_csv(directory / "stores.csv", usecols=list(STORE_COLUMNS), dtype={"STORE_ID": "str"})
    products = pd.read_csv(directory / "products.csv", usecols=list(PRODUCT_COLUMNS), dtype={"UPC": "str"})
    stores = stores.rename(columns=STORE_COLUMNS).drop_duplicates("store_code")
    products = products.rename(columns=PRODUCT_COLUMNS).drop_duplicates("product_code")
    weekly = tx.merge(products, on="product_code", how="left").merge(stores, on="store_code", how="left")
    return build_model_panel(weekly, {"success": True}, {"min_weeks_history": 1})
