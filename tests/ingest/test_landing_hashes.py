"""Landing files' hashes kept between runs: a file unchanged since an earlier run is not read again."""

from __future__ import annotations

import json

import pytest

from sellout.ingest import landing


@pytest.fixture(autouse=True)
def fresh_process_cache(monkeypatch):
    monkeypatch.setattr(landing, "_hashes_by_stat", {})


def _new_process(monkeypatch):
    """What a next run starts with: no hash in memory, and a record of what it would hash."""
    monkeypatch.setattr(landing, "_hashes_by_stat", {})
    read = []
    real = landing._content_sha256
    monkeypatch.setattr(landing, "_content_sha256", lambda path: read.append(path.name) or real(path))
    return read


def test_a_file_unchanged_since_the_last_run_is_not_read_again(tmp_path, monkeypatch):
    week = tmp_path / "landing" / "sales_2026-W01.csv"
    week.parent.mkdir()
    week.write_text("store,product,units\nS1,P1,3\n", encoding="utf-8")
    first = landing.file_sha256(week)
    record = tmp_path / "data" / "landing_hashes.json"
    landing.save_known_hashes(record, [week.parent])

    read = _new_process(monkeypatch)
    assert landing.load_known_hashes(record) == 1
    assert landing.file_sha256(week) == first and read == []

    week.write_text("store,product,units\nS1,P1,4\n", encoding="utf-8")  # corrected in place: read again
    assert landing.file_sha256(week) != first and read == ["sales_2026-W01.csv"]


def test_the_record_keeps_only_landing_files_that_are_still_as_hashed(tmp_path):
    kept, gone, elsewhere = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "other" / "c.csv"
    elsewhere.parent.mkdir()
    for path in (kept, gone, elsewhere):
        path.write_text(path.name, encoding="utf-8")
        landing.file_sha256(path)
    gone.unlink()
    record = tmp_path / "landing_hashes.json"
    landing.save_known_hashes(record, [tmp_path])  # not the other folder's file
    assert [entry[0] for entry in json.loads(record.read_text(encoding="utf-8"))] == [str(kept.resolve())]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.csv",
        "landing_hashes.json",
        "other",
    ]  # no temporary file


@pytest.mark.parametrize("content", ["not json", '[["a.csv", 1]]', '{"a": 1}'])
def test_an_unreadable_record_means_every_file_is_hashed(tmp_path, monkeypatch, content):
    week = tmp_path / "sales.csv"
    week.write_text("x", encoding="utf-8")
    record = tmp_path / "landing_hashes.json"
    record.write_text(content, encoding="utf-8")
    read = _new_process(monkeypatch)
    assert landing.load_known_hashes(record) == 0
    landing.file_sha256(week)
    assert read == ["sales.csv"]
