"""What a run is and which retailer feeds it reads, as catalog entries (``conf/base/catalog.yml``).

- :class:`RunContextDataset`: the run's identity from the runtime parameters (run id, mode, dry run, backfill)
  and the environment; validated when the catalog is created, so a bad ``mode`` stops the run before it starts.
- :class:`SourcesDataset`: the validated ``sources.yml`` of the environment (retailer feeds).
- :class:`CodeMappingsDataset`: each source's store and product code mappings (files and inline values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from sellout.config.project import ProjectConfig
from sellout.config.run import build_run_context
from sellout.config.schema import ConfigError
from sellout.config.sources import CodeMapping, SourceConfig

CodeMaps = dict[tuple[str, str], dict[str, str] | None]


class _ReadOnly(AbstractDataset[None, Any]):
    def _save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only: change conf/ or the runtime parameters")


class RunContextDataset(_ReadOnly):
    def __init__(
        self,
        run_id: str,
        mode: str = "incremental",
        dry_run: bool | str = False,
        env: str = "local",
        backfill_from: str | None = None,
        backfill_to: str | None = None,
    ) -> None:
        params = {
            "mode": mode,
            "dry_run": dry_run,
            "backfill_from": backfill_from,
            "backfill_to": backfill_to,
        }
        self._context = build_run_context(str(run_id), params, env)

    def _describe(self) -> dict[str, Any]:
        return {k: self._context[k] for k in ("run_id", "mode", "dry_run", "env")}

    def _load(self) -> dict[str, Any]:
        return dict(self._context)


class SourcesDataset(_ReadOnly):
    """The retailer feeds of ``conf/base/sources.yml`` + ``conf/<env>/sources.yml``, validated."""

    def __init__(self, env: str, project_path: str) -> None:
        self._env, self._project_path = env, project_path

    def _describe(self) -> dict[str, Any]:
        return {"env": self._env, "file": f"conf/{{base,{self._env}}}/sources.yml"}

    def _load(self) -> dict[str, SourceConfig]:
        return ProjectConfig(self._env, self._project_path).sources


class CodeMappingsDataset(SourcesDataset):
    """``{(source, "stores" | "products"): {retailer code: company code}}`` (``None``: the source maps none)."""

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "what": "store_codes / product_codes mapping files and values"}

    def _load(self) -> CodeMaps:
        return code_maps(super()._load())


def code_maps(sources: dict[str, SourceConfig]) -> CodeMaps:
    """Every source's store and product code mappings."""
    return {
        (name, kind): load_code_map(
            getattr(source, f"{kind[:-1]}_codes"), f"sources.{name}.{kind[:-1]}_codes"
        )
        for name, source in sources.items()
        for kind in ("stores", "products")
    }


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
