"""Kedro datasets for the project's PostgreSQL (Supabase) tables, raw file loads, settings, optional sources and
the Supabase REST API."""

from sellout.datasets.memo import MemoDataset
from sellout.datasets.optional import OptionalCSVDataset, OptionalPostgresTableDataset
from sellout.datasets.postgres_table import PostgresTableDataset
from sellout.datasets.raw_load import RawFileLoadDataset
from sellout.datasets.settings_dataset import SettingsDataset
from sellout.datasets.supabase_rest import SupabaseTableDataset

__all__ = [
    "MemoDataset",
    "OptionalCSVDataset",
    "OptionalPostgresTableDataset",
    "PostgresTableDataset",
    "RawFileLoadDataset",
    "SettingsDataset",
    "SupabaseTableDataset",
]
