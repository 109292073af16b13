"""The landing folders as a dataset: every file of every enabled source that matches one of its patterns.

Loading scans the folders and hashes each file (sha256), master data first, then by name; the files themselves
are read later, one at a time, by the ingestion (a :class:`~sellout.ingest.landing.LandingFile` is a handle, like
a partition of Kedro's PartitionedDataset).
"""

from __future__ import annotations

from typing import Any

from sellout.config.project import ProjectConfig
from sellout.datasets.run_config import _ReadOnly
from sellout.ingest.landing import LandingFile, scan_sources


class LandingFilesDataset(_ReadOnly):
    def __init__(self, env: str, project_path: str, metadata: dict[str, Any] | None = None) -> None:
        self._env, self._project_path = env, project_path
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"env": self._env, "folders": "sources.<name>.directory of sources.yml"}

    def _load(self) -> list[LandingFile]:
        return scan_sources(ProjectConfig(self._env, self._project_path).sources)
