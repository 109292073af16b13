"""Results kept by content key in a folder, so that a run whose inputs are unchanged reuses them.

Catalog entries (the same folder twice: a Kedro node cannot read and write one dataset name)::

    stored_forecast_models:                   # a node's input: what earlier runs stored
      type: sellout.datasets.MemoDataset
      path: ${globals:data_dir}/06_models/memo/forecast_model
      keep: 3
    forecast_models_to_store:                 # the same node's output: what this run adds
      type: sellout.datasets.MemoDataset
      path: ${globals:data_dir}/06_models/memo/forecast_model
      keep: 3

``load()`` returns ``{key: loader}`` like ``PartitionedDataset``: nothing is read until the node calls the
loader of the key it computed; the loader returns ``None`` for an entry that cannot be read (a truncated or
foreign file: the node computes the result again) and marks the entry used, so pruning keeps it. ``save({key:
value})`` writes each value as a pickle atomically (temporary file + rename) and then keeps only the ``keep``
most recently used entries; an empty dict writes nothing. ``keep: 0`` stores nothing and loads nothing (always
compute). ``mode: ${runtime_params:mode,incremental}``: a ``full`` run loads nothing (it computes everything
again, as ``--mode full`` promises) and still saves what it computed. Keys are the nodes' content keys (hex digests).
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from sellout.integrations.atomic_files import write_file

logger = logging.getLogger(__name__)

SUFFIX = ".pkl"
KEY_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,128}")


class MemoDataset(AbstractDataset[dict[str, Any], dict[str, Callable[[], Any]]]):
    def __init__(
        self,
        path: str | os.PathLike,
        keep: int = 3,
        mode: str = "incremental",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if int(keep) < 0:
            raise DatasetError(f"MemoDataset {path}: keep must be >= 0, got {keep!r}")
        self._path = Path(path)
        self._keep = int(keep)
        self._mode = str(mode)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "keep": self._keep, "mode": self._mode}

    def _load(self) -> dict[str, Callable[[], Any]]:
        if self._mode == "full":  # a full run computes everything again; what it computes is still stored
            return {}
        if self._keep == 0 or not self._path.is_dir():
            return {}
        return {entry.stem: self._loader(entry) for entry in sorted(self._path.glob(f"*{SUFFIX}"))}

    def _save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(
                f"MemoDataset {self._path} saves a dict {{key: value}}, got {type(data).__name__}"
            )
        for key in data:
            if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
                raise DatasetError(
                    f"MemoDataset {self._path}: key {key!r} is not a content key ([0-9A-Za-z_-])"
                )
        if self._keep == 0 or not data:
            return
        self._path.mkdir(parents=True, exist_ok=True)
        for key, value in data.items():
            _write_atomically(self._path / f"{key}{SUFFIX}", value)
        self._prune()

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _loader(self, entry: Path) -> Callable[[], Any]:
        def load() -> Any:
            try:
                with entry.open("rb") as handle:
                    value = pickle.load(handle)
            except Exception as exc:  # noqa: BLE001 - any unreadable entry is a miss, computed again
                logger.warning("stored result %s unreadable (%s); it will be computed again", entry, exc)
                return None
            logger.info("inputs unchanged since an earlier run: reusing %s", entry)
            os.utime(entry)
            return value

        return load

    def _prune(self) -> None:
        entries = sorted(self._path.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[self._keep :]:
            old.unlink(missing_ok=True)


def _write_atomically(path: Path, value: Any) -> None:
    def dump(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)

    write_file(path, dump)
