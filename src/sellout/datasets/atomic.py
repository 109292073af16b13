"""The base of datasets whose save does something and records it as JSON (written atomically)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from sellout.integrations.atomic_files import write_json


class JsonRecordDataset(AbstractDataset[Any, dict]):
    """Saving does the subclass's work (:meth:`_act`) and writes its record to ``filepath``; loading reads it."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _load(self) -> dict[str, Any]:
        if not self._exists():
            raise DatasetError(f"no record at {self._filepath}: the step that writes it has not run")
        return json.loads(self._filepath.read_text(encoding="utf-8"))

    def _save(self, data: Any) -> None:
        write_json(self._filepath, self._act(data))

    def _act(self, data: Any) -> dict[str, Any]:
        raise NotImplementedError
