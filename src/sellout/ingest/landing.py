"""The landing folders: which files of which source and kind are there, and their content hashes."""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sellout.canonical import FILE_KINDS  # master data first, so sell-out rows find their codes
from sellout.config.sources import SourceConfig

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


def _content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
