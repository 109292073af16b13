"""The benchmark panels, read straight from the files in ``../shared`` (``$SELLOUT_SHARED_DIR``).

Each data set becomes what the pipeline's ``sellout_weekly`` (the dbt mart) would hold for it, then the
preprocessing pipeline's ``build_model_panel`` (a week with no row inside a series' span = 0 units, a store-week
without any row between the store's deliveries = an outage). Every series is kept (``min_weeks_history: 1``):
the issue's protocol scores the whole set.

* ``dunnhumby``: units per store x UPC x week (weeks ending Wednesday), prices, base prices and the feature,
  display and TPR flags, store and product attributes.
* ``rossmann``: a daily, value-only feed: sales value per store (one series per store, product ``ALL``) and
  week ending Sunday; a week with fewer than 7 days reported (open or closed) is incomplete and left out; the
  week is promoted if any of its days is (``promotion``); the days the store was closed (``days_closed``) and
  the public holidays in it (``holiday_days``) are the week's known calendar inputs. No master data: the
  pipeline has none for it either.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.shared_data import PROJECT_ROOT
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
ALL_PREPROCESSED = {"min_weeks_history": 1}


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
    weekly["source"] = "dunnhumby"
    return build_model_panel(weekly, {"success": True}, ALL_PREPROCESSED)


def rossmann_weekly(directory: Path) -> pd.DataFrame:
    """Rossmann's daily rows summed into weeks ending Sunday, as the mart holds a daily value-only source."""
    daily = pd.read_csv(
        directory / "train.csv.gz",
        usecols=["Store", "Date", "Sales", "Open", "Promo", "StateHoliday"],
        dtype={"Store": "str", "StateHoliday": "str"},
    )
    day = pd.to_datetime(daily["Date"], format="%Y-%m-%d")
    daily[WEEK] = day + pd.to_timedelta(6 - day.dt.day_of_week, unit="D")
    daily["closed"] = daily["Open"].eq(0)
    daily["holiday"] = daily["StateHoliday"].fillna("0").ne("0")
    weekly = (
        daily.groupby(["Store", WEEK], sort=True)
        .agg(
            sales_value=("Sales", "sum"),
            days_reported=("Sales", "size"),
            days_closed=("closed", "sum"),
            promotion=("Promo", "max"),
            holiday_days=("holiday", "sum"),
        )
        .reset_index()
        .rename(columns={"Store": "store_code"})
    )
    weekly["product_code"] = "ALL"
    weekly["source"] = "rossmann"
    weekly["measure"] = "sales_value"
    weekly["units"] = np.nan
    weekly["promotion"] = weekly["promotion"].astype(bool)
    weekly["is_complete_week"] = weekly["days_reported"] == 7
    for col in ("days_closed", "holiday_days", "sales_value"):
        weekly[col] = weekly[col].astype("float64")
    return weekly


def load_rossmann_panel(directory: Path) -> pd.DataFrame:
    """The model panel of Rossmann's weekly sales value per store."""
    return build_model_panel(rossmann_weekly(directory), {"success": True}, ALL_PREPROCESSED)


@dataclass(frozen=True)
class DataSet:
    folder: str
    marker: str
    load: Callable[[Path], pd.DataFrame]


DATA_SETS = {
    "dunnhumby": DataSet("dunnhumby_breakfast_at_the_frat", "transactions.csv.gz", load_dunnhumby_panel),
    "rossmann": DataSet("rossmann_store_sales", "train.csv.gz", load_rossmann_panel),
}


PIPELINE_PANEL = PROJECT_ROOT / "data" / "04_feature" / "model_panel.parquet"
PANEL_COLUMNS = ("source", "store_code", "product_code", WEEK)


class PanelFileError(ValueError):
    """A model panel file that cannot be benchmarked: the message says why."""


def load_panel_file(path: Path, source: str | None) -> tuple[str, pd.DataFrame]:
    """The name and model panel of one source of the model panel in ``path`` (``source``: which one; needed
    only when the file holds several)."""
    if not path.is_file():
        hint = " (run the pipeline first: `make run`, or `sellout run`)" if path == PIPELINE_PANEL else ""
        raise PanelFileError(f"no model panel at {path}{hint}")
    try:
        panel = pd.read_parquet(path)
    except Exception as exc:  # pyarrow's errors share no base class worth naming
        raise PanelFileError(f"{path} is not a parquet file: {exc}") from exc
    missing = [col for col in PANEL_COLUMNS if col not in panel.columns]
    if missing or not ("units" in panel.columns or "sales_value" in panel.columns):
        needed = ", ".join(missing) if missing else "units or sales_value"
        raise PanelFileError(f"{path} is not a model panel: it has no {needed} column")
    sources = sorted(str(s) for s in pd.unique(panel["source"].astype(str)))
    if source is None:
        if len(sources) != 1:
            listed = ", ".join(sources) if sources else "none"
            raise PanelFileError(f"{path} holds the sources {listed}: name one (--source, SOURCE=)")
        source = sources[0]
    elif source not in sources:
        raise PanelFileError(f"{path} has no source {source!r}; it holds {', '.join(sources) or 'none'}")
    one = panel[panel["source"].astype(str) == source].reset_index(drop=True)
    for col in one.select_dtypes("category").columns:
        one[col] = one[col].cat.remove_unused_categories()
    return source, one


def data_dir(name: str) -> Path | None:
    """The folder of data set ``name``, or None after saying on stderr where it looked."""
    shared = Path(os.environ.get("SELLOUT_SHARED_DIR") or PROJECT_ROOT.parent / "shared").resolve()
    folder = shared / "data" / DATA_SETS[name].folder
    if not (folder / DATA_SETS[name].marker).exists():
        print(f"bench-forecast needs the {name} files in {folder} (set SELLOUT_SHARED_DIR)", file=sys.stderr)
        return None
    return folder
