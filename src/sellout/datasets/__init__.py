"""Kedro datasets for the project's PostgreSQL (Supabase) tables, raw file loads, settings, and the
Supabase REST API."""

from sellout.datasets.postgres_table import PostgresTableDataset
from sellout.datasets.raw_load import RawFileLoadDataset
from sellout.datasets.settings import SettingsDataset
from sellout.datasets.supabase_rest import SupabaseTableDataset

__all__ = ["PostgresTableDataset", "RawFileLoadDataset", "SettingsDataset", "SupabaseTableDataset"]
