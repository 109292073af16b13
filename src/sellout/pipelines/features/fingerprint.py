"""Content keys: a sha256 that changes when the data, the settings or the code that turns one into the other do.

A later stage reuses an earlier run's result when its key is unchanged (the forecasting stage's stored
backtests and models); each stage's key folds in the source of its own code, so a code change is a new key.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Odd 64-bit multipliers for ``mix64`` (fixed: hashes made with them are stored between runs).
MULTIPLIERS = np.random.default_rng(20261202).integers(1, 2**63, size=4096, dtype="uint64") * 2 + 1


def mix64(values: np.ndarray, multiplier: np.ndarray | np.uint64) -> np.ndarray:
    """``values`` (uint64) mixed in place: xor-shift, times an odd ``multiplier``, xor-shift. A building block
    of fast array hashes (a row's features, a series' delivered cells), not a cryptographic one."""
    with np.errstate(over="ignore"):
        values ^= values >> np.uint64(31)
        values *= multiplier
        values ^= values >> np.uint64(29)
    return values


def digest(
    *,
    frames: Mapping[str, pd.DataFrame] | None = None,
    arrays: Iterable[np.ndarray] = (),
    settings: Any = None,
    text: Iterable[str] = (),
) -> str:
    """sha256 over frames (values, column names, dtypes), arrays (values, shapes), settings (as JSON) and text."""
    sha = hashlib.sha256()
    for name in sorted(frames or {}):
        frame = frames[name]
        sha.update(name.encode())
        sha.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
        sha.update(str(len(frame)).encode())
        for _, values in frame.items():
            _update_with_column(sha, values)
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        sha.update(f"{contiguous.dtype}{contiguous.shape}".encode())
        sha.update(contiguous.tobytes())
    sha.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for part in text:
        sha.update(part.encode())
    return sha.hexdigest()


def _update_with_column(sha, values: pd.Series) -> None:
    """A column's values into ``sha``: the memory of a numeric, boolean or datetime column as it is, a
    categorical's categories and codes (0.9-1.0 s where pandas' row hashes took 4.4 s: the 11.5-million-row
    panel of 20 times dunnhumby), other columns by pandas' row hashes. Equal values in another layout (a
    categorical's categories in another order) give another key: the result is computed again, never mixed up."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        sha.update(json.dumps([str(c) for c in values.cat.categories]).encode())
        sha.update(memoryview(np.ascontiguousarray(values.cat.codes.to_numpy())))
    elif isinstance(values.dtype, np.dtype) and values.dtype.kind in "biufcmM":
        sha.update(memoryview(np.ascontiguousarray(values.to_numpy()).view("uint8")))
    else:
        sha.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())


@functools.cache
def code_digest(package: str) -> str:
    """sha256 of the source files of ``package`` (read once per process)."""
    sha = hashlib.sha256()
    folder = Path(importlib.import_module(package).__file__).parent
    for source in sorted(folder.glob("*.py")):
        sha.update(source.name.encode())
        sha.update(source.read_bytes())
    return sha.hexdigest()
