"""The per-source rules a sell-out row is checked against: delivery window, code mappings, known master data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sellout.config.sources import CodeMapping, ConfigError, SourceConfig
from sellout.ingest.parsing import RowRules


def load_code_map(mapping: CodeMapping | None, label: str) -> dict[str, str] | None:
    """Retailer code -> company code, from the mapping's file and inline values (inline wins)."""
    if mapping is None:
        return None
    codes: dict[str, str] = {}
    if mapping.file:
        path = Path(mapping.file)
        if not path.is_file():
            raise ConfigError(f"sources.yml: {label}.file: {path} does not exist")
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = [c for c in (mapping.from_column, mapping.to_column) if c not in table.columns]
        if missing:
            raise ConfigError(f"sources.yml: {label}.file: {path} has no column(s) {missing}")
        codes.update(
            zip(table[mapping.from_column].str.strip(), table[mapping.to_column].str.strip(), strict=True)
        )
    codes.update({str(k): str(v) for k, v in mapping.values.items()})
    return codes


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
