"""Atomic file writes: the target holds the old content or the whole new one, and no temporary file is left."""

from __future__ import annotations

import json

import pytest

from sellout.integrations.atomic_files import write_bytes, write_file, write_json


def test_a_write_replaces_the_whole_file_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "deep" / "record.json"
    write_json(target, {"rows": 3})
    write_bytes(target, b'{"rows": 4}')
    assert json.loads(target.read_text()) == {"rows": 4}
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]


def test_a_write_that_fails_midway_keeps_the_old_file(tmp_path):
    target = tmp_path / "panel.parquet"
    target.write_bytes(b"old")

    def half_then_fail(tmp):
        tmp.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_file(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["panel.parquet"]
