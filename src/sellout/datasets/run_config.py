"""What a run is and which retailer feeds it reads, as catalog entries (``conf/base/catalog.yml``).

- :class:`RunContextDataset`: the run's identity from the runtime parameters (run id, mode, dry run, backfill)
  and the environment; validated when the catalog is created, so a bad ``mode`` stops the run before it starts.
- :class:`SourcesDataset`: the validated ``sources.yml`` of the environment (retailer feeds).
- :class:`CodeMappingsDataset`: each source's store and product code mappings (files and inline values).
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from sellout.config.project import ProjectConfig
from sellout.config.run import build_run_context
from sellout.config.sources import SourceConfig
from sellout.ingest.code_maps import CodeMaps, code_maps, load_code_map

__all__ = ["CodeMappingsDataset", "RunContextDataset", "SourcesDataset", "code_maps", "load_code_map"]


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
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
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

    def __init__(self, env: str, project_path: str, metadata: dict[str, Any] | None = None) -> None:
        self._env, self._project_path = env, project_path
        self.metadata = metadata

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
