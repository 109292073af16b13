"""Kedro datasets for the project's PostgreSQL (Supabase) tables, raw file loads and settings."""

from sellout.datasets.postgres_table import PostgresTableDataset
from sellout.datasets.raw_load import RawFileLoadDataset
from sellout.datasets.settings import SettingsDataset

__all__ = ["PostgresTableDataset", "RawFileLoadDataset", "SettingsDataset"]
