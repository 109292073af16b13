"""Atomic file writes (a temporary file beside the target, then a rename: readers see the old or the new file), and
the base of datasets whose save does something and records it as JSON."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


def write_json(path: Path, data: Any) -> None:
    write_bytes(path, json.dumps(data, default=str, indent=2).encode("utf-8"))


def write_bytes(path: Path, content: bytes) -> None:
    write_file(path, lambda tmp: tmp.write_bytes(content))


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """``write(temporary_path)`` writes the whole file beside ``path``; then it replaces ``path`` in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
