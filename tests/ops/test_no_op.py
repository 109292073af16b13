"""A run with nothing new records a no-op and runs nothing; a new file, a changed parameter or --mode full runs."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from sellout.api import run_pipeline
from sellout.ingest import landing
from sellout.sample_data import generate


@pytest.fixture
def project(isolated_project):
    generate(isolated_project["landing"], weeks=6)
    first = run_pipeline("ingestion", run_id="first")
    assert first.status == "succeeded"
    return isolated_project


def _runs(url: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select r.run_id, r.status, count(n.node) from ops.pipeline_runs r "
            "left join ops.node_runs n using (run_id) group by 1, 2"
        ).fetchall()
    return {run_id: (status, nodes) for run_id, status, nodes in rows}


def test_a_rerun_with_nothing_new_is_a_no_op_that_runs_no_node(project):
    again = run_pipeline("ingestion", run_id="again")
    assert again.status == "noop" and again.error is None
    assert "Nothing new since run first" in again.note and "forecasts of run first stay" in again.note
    assert "Nothing new since run first" in again.describe()
    assert _runs(project["url"])["again"] == ("noop", 0)
    third = run_pipeline("ingestion", run_id="third")  # still nothing new: still the first run's forecasts
    assert third.status == "noop" and "since run first" in third.note


def test_a_later_run_reads_no_landing_file_an_earlier_run_hashed(project, monkeypatch):
    """A run keeps the landing files' hashes in the data folder: the next one (a new process) reads only the
    files that are new or changed since, so that its start does not grow with the landing archive."""
    record = json.loads((project["data"] / "landing_hashes.json").read_text(encoding="utf-8"))
    assert {Path(entry[0]).name for entry in record} == {p.name for p in project["landing"].rglob("*.csv")}
    monkeypatch.setattr(landing, "_hashes_by_stat", {})  # what a new process starts with
    read = []
    hash_content = landing._content_sha256
    monkeypatch.setattr(landing, "_content_sha256", lambda path: read.append(path.name) or hash_content(path))
    assert run_pipeline("ingestion", run_id="again").status == "noop" and read == []
    hashed_before = {Path(entry[0]).name for entry in record}
    generate(project["landing"], weeks=7)
    new_week = {p.name for p in project["landing"].rglob("*.csv")} - hashed_before
    assert run_pipeline("ingestion", run_id="second").status == "succeeded"
    assert sorted(read) == sorted(new_week) and new_week  # each new file read once, no other file


@pytest.mark.parametrize(
    ("change", "kwargs"),
    [
        ("a new file", {}),
        ("a parameter", {"params": {"ingestion": {"max_rejected_share": 0.06}}}),
        ("full mode", {"mode": "full"}),
        ("a backfill", {"params": {"backfill_from": "2020-W01"}}),
    ],
)
def test_anything_new_runs(project, change, kwargs):
    if change == "a new file":
        generate(project["landing"], weeks=7)
    run = run_pipeline("ingestion", run_id="second", **kwargs)
    assert run.status == "succeeded", change
    assert _runs(project["url"])["second"][1] > 0


def test_an_incremental_run_after_a_full_run_with_nothing_new_is_a_no_op(project):
    full = run_pipeline("ingestion", run_id="full", mode="full")
    assert full.status == "succeeded"
    after = run_pipeline("ingestion", run_id="after")
    assert after.status == "noop" and "since run full" in after.note
    assert _runs(project["url"])["after"] == ("noop", 0)
