"""The landing folders: which files of which source and kind are there, and their content hashes."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sellout.canonical import FILE_KINDS  # master data first, so sell-out rows find their codes
from sellout.config.sources import SourceConfig
from sellout.integrations.atomic_files import write_bytes

HASH_CHUNK_BYTES = 1 << 20
_hashes_by_stat: dict[tuple, str] = {}


@dataclass(frozen=True)
class LandingFile:
    source: str
    kind: str
    path: Path
    size_bytes: int
    sha256: str
    # the folder is an archive, not a drop folder: a quarantined file is copied, never moved (sources.<name>.keep_files)
    keep_in_place: bool = False

    @property
    def file_name(self) -> str:
        return self.path.name


def scan_sources(sources: dict[str, SourceConfig]) -> list[LandingFile]:
    """Every file of every enabled source that matches one of its patterns, master data first, then by name."""
    found: list[LandingFile] = []
    for source in sources.values():
        if not source.enabled:
            continue
        directory = Path(source.directory)
        if not directory.is_dir():
            continue
        names = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
        for kind in FILE_KINDS:
            spec = getattr(source, kind)
            if spec is None:
                continue
            for path in names:
                if fnmatch.fnmatch(path.name, spec.pattern):
                    found.append(
                        LandingFile(
                            source=source.name,
                            kind=kind,
                            path=path,
                            size_bytes=path.stat().st_size,
                            sha256=file_sha256(path),
                            keep_in_place=source.keep_files,
                        )
                    )
    return found


def file_sha256(path: Path) -> str:
    """The file's content hash; hashed once per process while its inode, size, modification and change times
    stay the same (a run scans the landing folders up to three times: the no-op check, the plan, its end)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    known = _hashes_by_stat.get(key)
    if known is None:
        known = _hashes_by_stat[key] = _content_sha256(path)
    return known


def load_known_hashes(path: Path) -> int:
    """Seeds this process's hashes with those an earlier run saved (``save_known_hashes``): a file whose path,
    inode, size, modification and change times are the recorded ones is not read again, so that a run's start no
    longer grows with the landing archive (623 MB at 20 times dunnhumby: 1.0 s each run). An unreadable record
    is ignored: every file is hashed, as without it. Returns how many hashes it knew."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        known = {(str(e[0]), int(e[1]), int(e[2]), int(e[3]), int(e[4])): str(e[5]) for e in entries}
    except (OSError, ValueError, TypeError, IndexError, KeyError):
        return 0
    _hashes_by_stat.update(known)
    return len(known)


def save_known_hashes(path: Path, folders: list[Path]) -> None:
    """Writes (atomically) the hashes of the files in ``folders`` (the landing folders) that are still as they
    were when hashed, for the next run."""
    inside = {str(Path(folder).resolve()) for folder in folders}
    entries = sorted(
        [*key, sha256]
        for key, sha256 in _hashes_by_stat.items()
        if str(Path(key[0]).parent) in inside and _unchanged(key)
    )
    text = json.dumps(entries)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    write_bytes(path, text.encode("utf-8"))


def _unchanged(key: tuple) -> bool:
    try:
        stat = os.stat(key[0])
    except OSError:
        return False
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns) == tuple(key[1:])


def _content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
