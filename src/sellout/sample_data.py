"""Deterministic sample sell-out for a fresh machine: weekly files from two retailers in two formats.

Shaped like real point-of-sale data: store x product x week, units, sales value, actual and base price,
promotion flags (feature, display, temporary price reduction), yearly seasonality by category, promotion uplift,
intermittent items, items not ranged in every store, a launch and a delisting. A week with no sale has no row.

- ``grocer_a``: US style CSV (comma, ISO dates, week ending Saturday, Y/N flags), UTF-8.
- ``grocer_b``: German style CSV (semicolon, decimal comma, dd.mm.yyyy, 1/0 flags), Latin-1.

Each week's rows come from a generator seeded by (seed, retailer, week), so asking for more weeks adds files and
leaves the earlier ones byte for byte the same.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

FIRST_WEEK_END = date(2023, 1, 7)  # a Saturday
CATEGORIES = {
    # category: (seasonal amplitude, week of peak)
    "COLD CEREAL": (0.10, 36),
    "BAG SNACKS": (0.25, 27),
    "FROZEN PIZZA": (0.20, 5),
    "ORAL HYGIENE": (0.05, 10),
}


@dataclass(frozen=True)
class Retailer:
    name: str
    n_stores: int
    store_prefix: str
    cities: tuple[tuple[str, str], ...]


RETAILERS = (
    Retailer(
        "grocer_a", 8, "A", (("CINCINNATI", "OH"), ("DAYTON", "OH"), ("HOUSTON", "TX"), ("LEXINGTON", "KY"))
    ),
    Retailer(
        "grocer_b", 6, "B", (("München", "BY"), ("Köln", "NW"), ("Düsseldorf", "NW"), ("Nürnberg", "BY"))
    ),
)


def product_master(n_products: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(20240101)
    categories = list(CATEGORIES)
    rows = []
    for i in range(n_products):
        category = categories[i % len(categories)]
        rows.append(
            {
                "product_code": f"400{1000000 + i * 137:07d}",
                "description": f"{category.title()} item {i + 1}",
                "manufacturer": "ACME FOODS" if i % 3 else "PRIVATE LABEL",
                "category": category,
                "sub_category": f"{category.title()} {'A' if i % 2 else 'B'}",
                "product_size": f"{int(rng.integers(8, 40))} OZ",
                "base_price": round(float(rng.uniform(1.5, 6.5)), 2),
                "base_level": float(rng.lognormal(1.6, 0.7)) if i % 5 else float(rng.uniform(0.2, 0.8)),
                "launch_week": 40 if i == n_products - 1 else 0,  # a launch in year one
                "delist_week": 80 if i == n_products - 2 else 10_000,  # a delisting in year two
            }
        )
    return pd.DataFrame(rows)


def store_master(retailer: Retailer) -> pd.DataFrame:
    rng = np.random.default_rng(zlib.crc32(retailer.name.encode()))
    rows = []
    for i in range(retailer.n_stores):
        city, state = retailer.cities[i % len(retailer.cities)]
        rows.append(
            {
                "store_code": f"{retailer.store_prefix}{101 + i}",
                "store_name": f"{city.title()} {i + 1}",
                "city": city,
                "state": state,
                "segment": ("MAINSTREAM", "UPSCALE", "VALUE")[i % 3],
                "sales_area": int(rng.integers(20_000, 80_000)),
                "store_size": float(rng.uniform(0.6, 1.8)),
            }
        )
    return pd.DataFrame(rows)


def ranging(retailer: Retailer, products: pd.DataFrame, stores: pd.DataFrame) -> np.ndarray:
    """Which store carries which product: about 85% of pairs."""
    rng = np.random.default_rng(zlib.crc32(f"{retailer.name}-ranging".encode()))
    return rng.random((len(stores), len(products))) < 0.85


def week_rows(
    retailer: Retailer,
    week_index: int,
    products: pd.DataFrame,
    stores: pd.DataFrame,
    ranged: np.ndarray,
    seed: int,
) -> pd.DataFrame:
    """One week's sell-out rows of one retailer, in canonical columns."""
    rng = np.random.default_rng([seed, zlib.crc32(retailer.name.encode()), week_index])
    week_end = FIRST_WEEK_END + timedelta(weeks=week_index)
    week_of_year = week_end.isocalendar()[1]
    n_stores, n_products = ranged.shape

    amplitude = products["category"].map(lambda c: CATEGORIES[c][0]).to_numpy()
    peak = products["category"].map(lambda c: CATEGORIES[c][1]).to_numpy()
    season = 1 + amplitude * np.cos(2 * np.pi * (week_of_year - peak) / 52)
    trend = 1 + 0.001 * week_index

    feature = rng.random((n_stores, n_products)) < 0.07
    display = rng.random((n_stores, n_products)) < 0.08
    tpr = rng.random((n_stores, n_products)) < 0.10
    discount = np.where(tpr | feature, rng.uniform(0.10, 0.30, (n_stores, n_products)), 0.0)
    base_price = np.broadcast_to(products["base_price"].to_numpy(), (n_stores, n_products))
    price = np.round(base_price * (1 - discount), 2)
    uplift = np.exp(2.2 * discount) * np.where(feature, 1.3, 1.0) * np.where(display, 1.2, 1.0)

    mean = (
        products["base_level"].to_numpy()[None, :]
        * stores["store_size"].to_numpy()[:, None]
        * season[None, :]
        * trend
        * uplift
    )
    units = rng.poisson(mean)
    alive = (week_index >= products["launch_week"].to_numpy()) & (
        week_index < products["delist_week"].to_numpy()
    )
    sold = ranged & alive[None, :] & (units > 0)
    s_idx, p_idx = np.nonzero(sold)
    frame = pd.DataFrame(
        {
            "week_end_date": week_end,
            "store_code": stores["store_code"].to_numpy()[s_idx],
            "product_code": products["product_code"].to_numpy()[p_idx],
            "units": units[s_idx, p_idx],
            "price": price[s_idx, p_idx],
            "base_price": base_price[s_idx, p_idx],
            "feature": feature[s_idx, p_idx],
            "display": display[s_idx, p_idx],
            "tpr_only": tpr[s_idx, p_idx] & ~feature[s_idx, p_idx] & ~display[s_idx, p_idx],
        }
    )
    frame["sales_value"] = np.round(frame["units"] * frame["price"], 2)
    return frame


def write_grocer_a(frame: pd.DataFrame, path: Path) -> None:
    out = pd.DataFrame(
        {
            "week_ending": pd.to_datetime(frame["week_end_date"]).dt.strftime("%Y-%m-%d"),
            "store_id": frame["store_code"],
            "sku": frame["product_code"],
            "units_sold": frame["units"],
            "net_sales": frame["sales_value"].map("{:.2f}".format),
            "unit_price": frame["price"].map("{:.2f}".format),
            "regular_price": frame["base_price"].map("{:.2f}".format),
            "in_circular": np.where(frame["feature"], "Y", "N"),
            "on_display": np.where(frame["display"], "Y", "N"),
            "price_reduction": np.where(frame["tpr_only"], "Y", "N"),
        }
    )
    _write_atomic(path, out.to_csv(index=False, lineterminator="\n").encode("utf-8"))


def write_grocer_b(frame: pd.DataFrame, path: Path) -> None:
    def comma(values: pd.Series) -> pd.Series:
        return values.map("{:.2f}".format).str.replace(".", ",", regex=False)

    out = pd.DataFrame(
        {
            "Woche": pd.to_datetime(frame["week_end_date"]).dt.strftime("%d.%m.%Y"),
            "Filiale": frame["store_code"],
            "Artikel": frame["product_code"],
            "Menge": frame["units"],
            "Umsatz": comma(frame["sales_value"]),
            "Preis": comma(frame["price"]),
            "Normalpreis": comma(frame["base_price"]),
            "Prospekt": frame["feature"].astype(int),
            "Zweitplatzierung": frame["display"].astype(int),
            "Preisaktion": frame["tpr_only"].astype(int),
        }
    )
    _write_atomic(path, out.to_csv(index=False, sep=";", lineterminator="\n").encode("latin-1"))


def write_masters(retailer: Retailer, products: pd.DataFrame, stores: pd.DataFrame, directory: Path) -> None:
    store_cols = ["store_code", "store_name", "city", "state", "segment", "sales_area"]
    product_cols = ["product_code", "description", "manufacturer", "category", "sub_category", "product_size"]
    if retailer.name == "grocer_a":
        _write_atomic(
            directory / "stores.csv", stores[store_cols].to_csv(index=False, lineterminator="\n").encode()
        )
        _write_atomic(
            directory / "products.csv",
            products[product_cols].to_csv(index=False, lineterminator="\n").encode(),
        )
    else:
        _write_atomic(
            directory / "filialen.csv",
            stores[store_cols].to_csv(index=False, sep=";", lineterminator="\n").encode("latin-1"),
        )
        _write_atomic(
            directory / "artikel.csv",
            products[product_cols].to_csv(index=False, sep=";", lineterminator="\n").encode("latin-1"),
        )


def generate(landing_dir: Path | str, weeks: int = 104, seed: int = 7) -> dict[str, int]:
    """Write ``weeks`` weekly files per retailer (and master data) under ``landing_dir/<retailer>/``.

    Returns the number of sell-out rows written per retailer. Existing identical files are left untouched.
    """
    landing_dir = Path(landing_dir)
    products = product_master()
    written: dict[str, int] = {}
    for retailer in RETAILERS:
        directory = landing_dir / retailer.name
        directory.mkdir(parents=True, exist_ok=True)
        stores = store_master(retailer)
        ranged = ranging(retailer, products, stores)
        write_masters(retailer, products, stores, directory)
        total = 0
        for week_index in range(weeks):
            frame = week_rows(retailer, week_index, products, stores, ranged, seed)
            week_end = FIRST_WEEK_END + timedelta(weeks=week_index)
            if retailer.name == "grocer_a":
                write_grocer_a(frame, directory / f"sellout_{week_end:%Y-%m-%d}.csv")
            else:
                write_grocer_b(frame, directory / f"abverkauf_{week_end:%Y%m%d}.csv")
            total += len(frame)
        written[retailer.name] = total
    return written


def _write_atomic(path: Path, content: bytes) -> None:
    """Write via a temporary file and rename, and only when the content changed (keeps hashes and mtimes)."""
    if path.exists() and path.read_bytes() == content:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)
