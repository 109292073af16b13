"""Kedro datasets: the project's PostgreSQL (Supabase) tables, raw file loads, the landing folders, the run's
identity and config, the Tableau refresh, alert delivery, optional sources and the Supabase REST API."""

from sellout.datasets.alerts import AlertDataset
from sellout.datasets.landing import LandingFilesDataset
from sellout.datasets.memo import MemoDataset
from sellout.datasets.optional import OptionalCSVDataset, OptionalPostgresTableDataset
from sellout.datasets.postgres_table import PostgresTableDataset
from sellout.datasets.raw_load import RawFileLoadDataset
from sellout.datasets.run_config import CodeMappingsDataset, RunContextDataset, SourcesDataset
from sellout.datasets.settings_dataset import SettingsDataset
from sellout.datasets.supabase_rest import SupabaseTableDataset
from sellout.datasets.tableau_refresh import TableauRefreshDataset

__all__ = [
    "AlertDataset",
    "CodeMappingsDataset",
    "LandingFilesDataset",
    "MemoDataset",
    "OptionalCSVDataset",
    "OptionalPostgresTableDataset",
    "PostgresTableDataset",
    "RawFileLoadDataset",
    "RunContextDataset",
    "SettingsDataset",
    "SourcesDataset",
    "SupabaseTableDataset",
    "TableauRefreshDataset",
]
