"""Kedro datasets: the project's PostgreSQL (Supabase) tables, raw file loads, the landing folders, the run's
identity and config, the Tableau refresh, alert delivery, stored results, optional sources, local files written
atomically and the Supabase REST API.

Each class is imported when it is first asked for (``sellout.datasets.TableauRefreshDataset`` in a catalog entry
imports only its own module), so that a catalog without the Tableau or Supabase entries never loads those clients.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from kedro.io import CachedDataset

_MODULES = {
    "AlertDataset": "alerts",
    "CodeMappingsDataset": "run_config",
    "LandingFilesDataset": "landing",
    "MemoDataset": "memo",
    "OptionalCSVDataset": "files",
    "OptionalPostgresTableDataset": "optional",
    "ParquetFileDataset": "files",
    "PlotlyJSONDataset": "files",
    "PostgresTableDataset": "postgres_table",
    "RawFileLoadDataset": "raw_load",
    "RunContextDataset": "run_config",
    "SettingsDataset": "settings_dataset",
    "SourcesDataset": "run_config",
    "SupabaseTableDataset": "supabase_rest",
    "TableSnapshotDataset": "table_snapshot",
    "TableauRefreshDataset": "tableau_refresh",
    "WriteBehindDataset": "write_behind",
}
__all__ = list(_MODULES)  # noqa: PLE0605 - the same names as _MODULES, kept in one place


def loaded_class(name: str) -> type | None:
    """The dataset class ``name`` if its module is imported already, else None: an ``isinstance`` check against it
    needs no import (an object of a class whose module nobody imported cannot exist)."""
    module = sys.modules.get(f"sellout.datasets.{_MODULES[name]}")
    return getattr(module, name, None) if module is not None else None


def stored(dataset: Any) -> Any:
    """The dataset that holds the data: the wrapped one of a Kedro ``CachedDataset`` (which keeps what it saved or
    loaded in memory for the rest of the run), else ``dataset`` itself."""
    return dataset._dataset if isinstance(dataset, CachedDataset) else dataset


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'sellout.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sellout.datasets.{_MODULES[name]}"), name)
