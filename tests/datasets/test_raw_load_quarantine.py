"""A quarantined file leaves a drop folder, and stays in an archive folder (``keep_files``) that is not ours."""

from __future__ import annotations

import pytest

from sellout.datasets import RawFileLoadDataset
from sellout.ingest.landing import LandingFile, file_sha256
from sellout.ingest.results import ParsedFile


@pytest.mark.parametrize("keep", [False, True])
def test_a_quarantined_file_is_copied_and_left_in_an_archive_folder(db_url, tmp_path, keep):
    landing = tmp_path / "landing"
    landing.mkdir()
    path = landing / "bad.csv"
    path.write_bytes(b"week;store\n\x00\n")
    parsed = ParsedFile(
        landing=LandingFile(
            "shared", "sellout", path, path.stat().st_size, file_sha256(path), keep_in_place=keep
        ),
        run_id="r1",
        quarantine_reason="not a text file",
    )
    RawFileLoadDataset(quarantine_dir=str(tmp_path / "q"), credentials={"url": db_url}).save(parsed)
    copy = tmp_path / "q" / "shared" / "bad.csv"
    assert copy.read_bytes() == b"week;store\n\x00\n"
    assert path.exists() is keep
