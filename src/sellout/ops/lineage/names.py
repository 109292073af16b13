"""OpenLineage names of the catalog's datasets, by OpenLineage's naming conventions, so that Kedro's and dbt's halves
of the graph meet: a table is ``postgres://<host>:<port>`` / ``<database>.<schema>.<table>``, a file ``file`` / its
absolute path, data handed from node to node in memory ``kedro://<project>`` / ``memory/<dataset>``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any

import attr
from kedro.io import MemoryDataset

from sellout.datasets import loaded_class, stored
from sellout.integrations import db

# What a raw file load writes: one transaction per file (sellout.datasets.raw_load, DDL in raw_tables).
RAW_LOAD_TABLES = (
    "raw.sellout_lines",
    "raw.stores",
    "raw.products",
    "raw.rejected_rows",
    "ops.ingested_files",
)
# Datasets that carry the run's configuration, not data: no lineage of their own.
CONFIG_DATASETS = ("RunContextDataset", "SourcesDataset", "CodeMappingsDataset", "SettingsDataset")


def _is(dataset: Any, *class_names: str) -> bool:
    """``isinstance(dataset, <sellout.datasets classes>)``, importing no dataset module (and so not pandas) that
    no dataset of the run has imported already."""
    return any((cls := loaded_class(name)) is not None and isinstance(dataset, cls) for name in class_names)


def postgres_namespace(url: str) -> tuple[str, str]:
    """(``postgres://host:port``, database) of a database URL; a Unix socket is ``localhost``."""
    parts = db.dsn_parts(url)
    host = parts["host"] if not parts["host"].startswith("/") else "localhost"
    return f"postgres://{host}:{parts['port']}", parts["dbname"]


TABLE_IN_QUERY = re.compile(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)", re.IGNORECASE)


@attr.define(frozen=True)
class Name:
    namespace: str
    name: str
    facets: tuple[tuple[str, Any], ...] = ()


class DatasetNames:
    """OpenLineage names of the catalog's datasets, as inputs (what a load reads) and outputs (what a save writes)."""

    def __init__(self, db_url: str | None, project: str, landing_dirs: Iterable[str]) -> None:
        self.db = postgres_namespace(db_url) if db_url else ("postgres://unknown:5432", "postgres")
        self.project = project
        self.landing_dirs = sorted(str(Path(d).resolve()) for d in landing_dirs)

    def table(self, qualified: str, columns: Mapping[str, str] | None = None) -> Name:
        # the `lineage` extra, imported once a run emits (hooks.py)
        from openlineage.client.facet_v2 import datasource_dataset, schema_dataset  # noqa: PLC0415

        namespace, database = self.db
        facets: list[tuple[str, Any]] = [
            ("dataSource", datasource_dataset.DatasourceDatasetFacet(name=namespace, uri=namespace))
        ]
        if columns:
            fields = [schema_dataset.SchemaDatasetFacetFields(name=c, type=t) for c, t in columns.items()]
            facets.append(("schema", schema_dataset.SchemaDatasetFacet(fields=fields)))
        return Name(namespace, f"{database}.{qualified}", tuple(facets))

    def file(self, path: str | PurePath) -> Name:
        text = str(path)
        if "://" in text and not text.startswith("file://"):
            scheme, rest = text.split("://", 1)
            bucket, _, key = rest.partition("/")
            return Name(f"{scheme}://{bucket}", "/" + key)
        return Name("file", str(Path(text.removeprefix("file://")).resolve()))

    def memory(self, dataset_name: str) -> Name:
        return Name(f"kedro://{self.project}", f"memory/{dataset_name}")

    def of(self, dataset_name: str, dataset: Any, role: str) -> list[Name]:
        """What ``dataset`` reads (``role="input"``) or writes (``"output"``), by OpenLineage's names."""
        dataset = stored(dataset)
        if (
            dataset_name.startswith("params:")
            or dataset_name == "parameters"
            or _is(dataset, *CONFIG_DATASETS)
        ):
            return []
        if _is(dataset, "LandingFilesDataset"):
            return [self.file(directory) for directory in self.landing_dirs]
        if _is(dataset, "RawFileLoadDataset"):
            if role == "output":
                return [self.table(table) for table in RAW_LOAD_TABLES]
            read = getattr(dataset, "_read", "manifest")
            return [
                self.table(t)
                for t in (
                    ("raw.stores", "raw.products") if read == "master_codes" else ("ops.ingested_files",)
                )
            ]
        if _is(dataset, "PostgresTableDataset"):
            names = [self.table(dataset._table, getattr(dataset, "_columns", None))]
            query = (getattr(dataset, "_load_args", None) or {}).get("query")
            if role == "input" and query:
                names += [
                    self.table(t.lower())
                    for t in TABLE_IN_QUERY.findall(query)
                    if t.lower() != dataset._table
                ]
            return names
        if _is(dataset, "TableSnapshotDataset"):  # the table it reads (its local copy is a cache of it)
            return [self.table(dataset._table)]
        if _is(dataset, "SupabaseTableDataset"):
            described = dataset._describe()
            return [self.table(f"{described.get('schema', 'public')}.{described.get('table')}")]
        if _is(dataset, "TableauRefreshDataset"):
            names = [self.file(dataset._filepath)]
            return names + ([self.table("ops.tableau_refreshes")] if role == "output" else [])
        if _is(dataset, "AlertDataset"):
            return [self.file(dataset._filepath)]
        if isinstance(dataset, MemoryDataset):
            return [self.memory(dataset_name)]
        described = _describe(dataset)
        location = described.get("filepath") or described.get("path")
        if location:
            return [self.file(location)]
        return [self.memory(dataset_name)]


def _describe(dataset: Any) -> dict[str, Any]:
    try:
        return dict(dataset._describe() or {})
    except Exception:  # noqa: BLE001 - a dataset that cannot describe itself is named by its catalog name
        return {}
