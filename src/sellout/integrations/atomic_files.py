"""Atomic file writes: the whole file is written to a temporary file beside the target, then renamed over it, so a
reader (or a run killed mid-write) sees the old file or the new one, never a part."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """``write(temporary_path)`` writes the whole file beside ``path``; then it replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, content: bytes) -> None:
    write_file(path, lambda tmp: tmp.write_bytes(content))


def write_json(path: Path, data: Any) -> None:
    write_bytes(path, json.dumps(data, default=str, indent=2).encode("utf-8"))
