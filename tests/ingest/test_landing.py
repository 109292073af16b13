"""Landing files' content hashes: computed once per process, computed again when the file changes."""

from __future__ import annotations

import hashlib
import os

from sellout.ingest.landing import file_sha256


def test_a_file_is_hashed_by_its_content_and_again_once_it_changes(tmp_path):
    path = tmp_path / "week.csv"
    path.write_bytes(b"store,units\nS1,3\n")
    first = file_sha256(path)
    assert first == hashlib.sha256(b"store,units\nS1,3\n").hexdigest()
    assert file_sha256(path) == first

    path.write_bytes(b"store,units\nS1,4\n")  # the same size: a resent file with one figure corrected
    stat = path.stat()
    os.utime(
        path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000)
    )  # past the clock's tick, whatever it is
    assert file_sha256(path) == hashlib.sha256(b"store,units\nS1,4\n").hexdigest()


def test_another_file_with_the_same_stamp_is_not_taken_for_it(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(b"1")
    b.write_bytes(b"2")
    assert file_sha256(a) != file_sha256(b)
