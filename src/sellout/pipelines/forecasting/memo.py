"""Reuse of the forecasting stage's expensive results when nothing they depend on has changed.

A scheduled incremental run that finds no new file rebuilds the same model panel. LightGBM is run
deterministically (``deterministic: true``, one seed, fixed threads), so refitting would give the same model and
the same backtest again: on the whole dunnhumby set that is about 14 fits of 12 s each. The backtest's cells and
the trained model are therefore stored under a key: the sha256 of the input frames' content, the parameters,
the LightGBM version and the source of the features and forecasting code (a code change is a new key). A run
with the same key reads them back. Entries are pickles written atomically (temporary file + rename); one that
cannot be read is computed again; only the newest ``KEEP`` entries of each kind are kept.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import lightgbm as lgb
import pandas as pd

logger = logging.getLogger(__name__)

KEEP = 3
T = TypeVar("T")
_CODE_PACKAGES = ("sellout.pipelines.features", "sellout.pipelines.forecasting")


def fingerprint(frames: Mapping[str, pd.DataFrame], params: Mapping[str, Any]) -> str:
    """sha256 over the frames' content (values, column names, dtypes), the parameters and the code."""
    digest = hashlib.sha256()
    for name in sorted(frames):
        frame = frames[name]
        digest.update(name.encode())
        digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    digest.update(lgb.__version__.encode())
    digest.update(_code_digest().encode())
    return digest.hexdigest()


@functools.cache
def _code_digest() -> str:
    import importlib

    digest = hashlib.sha256()
    for package in _CODE_PACKAGES:
        folder = Path(importlib.import_module(package).__file__).parent
        for source in sorted(folder.glob("*.py")):
            digest.update(source.name.encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()


class Memo:
    """Stored results by kind and key in ``directory``; ``None`` (or an empty string) stores nothing."""

    def __init__(self, directory: str | os.PathLike | None):
        self.directory = Path(directory) if directory else None

    def get_or_compute(self, kind: str, key: str, compute: Callable[[], T]) -> T:
        """The stored result of ``kind`` under ``key``, or ``compute()``'s (then stored)."""
        found = self.get(kind, key)
        if found is not None:
            return found
        value = compute()
        self.put(kind, key, value)
        return value

    def get(self, kind: str, key: str) -> Any | None:
        """The stored result, or None (nothing stored, no directory, or an unreadable entry)."""
        if self.directory is None:
            return None
        path = self._path(kind, key)
        if not path.exists():
            return None
        try:
            with path.open("rb") as handle:
                value = pickle.load(handle)
        except Exception as exc:  # a truncated or foreign file: the caller computes it again
            logger.warning("%s: stored result %s unreadable (%s); computing it again", kind, path, exc)
            return None
        logger.info("%s: inputs unchanged since an earlier run, reusing %s", kind, path.name)
        os.utime(path)
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.directory is None:
            return
        self._store(self._path(kind, key), value)
        self._prune(kind)

    def _path(self, kind: str, key: str) -> Path:
        return self.directory / f"{kind}-{key[:32]}.pkl"

    def _store(self, path: Path, value: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _prune(self, kind: str) -> None:
        entries = sorted(self.directory.glob(f"{kind}-*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
