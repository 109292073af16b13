"""The per-source rules a sell-out row is checked against: delivery window, code mappings, known master data."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sellout.config.sources import SourceConfig


@dataclass(frozen=True)
class RowRules:
    """What a sell-out row must satisfy beyond its own columns: the delivery window, code mappings and the
    master data its codes must appear in (None = not checked)."""

    earliest_week: pd.Timestamp | None = None
    latest_week: pd.Timestamp | None = None
    store_map: dict[str, str] | None = None
    product_map: dict[str, str] | None = None
    keep_unmapped_stores: bool = False
    keep_unmapped_products: bool = False
    known_stores: frozenset[str] | None = None
    known_products: frozenset[str] | None = None


class KnownCodes:
    """Store and product codes per source from master data: the database's, replaced by any master file that
    loads in this run."""

    def __init__(self, master_codes: pd.DataFrame) -> None:
        self._codes: dict[tuple[str, str], frozenset[str]] = {
            (source, kind): frozenset(group["code"])
            for (source, kind), group in master_codes.groupby(["source", "kind"], sort=False)
        }

    def replace(self, source: str, kind: str, codes) -> None:
        self._codes[(source, kind)] = frozenset(codes)

    def get(self, source: str, kind: str) -> frozenset[str] | None:
        return self._codes.get((source, kind))


def row_rules(
    source: SourceConfig, known: KnownCodes, run_started: pd.Timestamp, code_maps: dict
) -> RowRules:
    window = source.delivery_window
    today = run_started.tz_localize(None) if run_started.tzinfo else run_started
    store_map, product_map = code_maps.get((source.name, "stores")), code_maps.get((source.name, "products"))
    return RowRules(
        latest_week=(today + pd.Timedelta(days=window.max_future_days)).normalize(),
        earliest_week=(today - pd.Timedelta(weeks=window.max_age_weeks)).normalize()
        if window.max_age_weeks
        else None,
        store_map=store_map,
        product_map=product_map,
        keep_unmapped_stores=bool(source.store_codes and source.store_codes.unmapped == "keep"),
        keep_unmapped_products=bool(source.product_codes and source.product_codes.unmapped == "keep"),
        known_stores=known.get(source.name, "stores") if source.check_master_data and source.stores else None,
        known_products=known.get(source.name, "products")
        if source.check_master_data and source.products
        else None,
    )
