"""Ingestion against a real database: new files only, quarantine, rejected rows, idempotent reruns."""

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import yaml
from kedro.io import DatasetError
from support.databases import temporary_database

from sellout.config.source_validation import validate_sources
from sellout.datasets import RawFileLoadDataset, raw_load
from sellout.datasets.run_config import code_maps
from sellout.ingest import parsing
from sellout.ingest.landing import scan_sources
from sellout.pipelines.ingestion import nodes
from sellout.pipelines.ingestion.nodes import parse_new_files, plan_ingestion, summarize_ingestion
from sellout.sample_data import generate

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def landing(tmp_path):
    generate(tmp_path / "landing", weeks=6)
    return tmp_path / "landing"


@pytest.fixture
def sources(landing):
    raw = yaml.safe_load((PROJECT_ROOT / "conf/base/sources.yml").read_text())
    for name in ("grocer_a", "grocer_b"):
        raw["sources"][name]["directory"] = str(landing / name)
    raw["sources"]["dunnhumby"]["enabled"] = False
    return validate_sources(raw, PROJECT_ROOT)


def _ingest(sources, dataset, run_id, mode="incremental", params=None, backfill=None):
    context = {
        "run_id": run_id,
        "mode": mode,
        "started_at": "2026-11-27T07:00:00+00:00",
        "backfill": backfill,
    }
    codes = RawFileLoadDataset(quarantine_dir="unused", credentials=dataset._credentials, read="master_codes")
    plan = plan_ingestion(scan_sources(sources), dataset.load(), context)
    for parsed in parse_new_files(plan, sources, codes.load(), code_maps(sources), context, params or {}):
        dataset.save(parsed)
    return summarize_ingestion(dataset.load(), context)


def _counts(url):
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("raw.sellout_lines", "raw.stores", "raw.products", "ops.ingested_files")
        }


def test_first_run_loads_everything_and_rerun_loads_nothing(sources, db_url, tmp_path, landing):
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "quarantine"), credentials={"url": db_url})
    first = _ingest(sources, dataset, "run-1")
    expected_rows = sum(
        sum(1 for _ in path.open(encoding="latin-1")) - 1
        for name, pattern in (("grocer_a", "sellout_*.csv"), ("grocer_b", "abverkauf_*.csv"))
        for path in (landing / name).glob(pattern)
    )
    counts = _counts(db_url)
    assert counts["raw.sellout_lines"] == expected_rows
    assert first["files_loaded"] == 6 * 2 + 4
    assert first["latest_week"] == "2023-02-11"

    second = _ingest(sources, dataset, "run-2")
    assert second["files_loaded"] == 0
    assert _counts(db_url) == counts


def test_full_mode_reloads_without_duplicating(sources, db_url, tmp_path):
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "quarantine"), credentials={"url": db_url})
    _ingest(sources, dataset, "run-1")
    before = _counts(db_url)
    full = _ingest(sources, dataset, "run-2", mode="full")
    assert full["files_loaded"] == before["ops.ingested_files"]
    assert _counts(db_url) == before


def test_a_backfill_reloads_the_files_of_its_weeks_only(sources, db_url, tmp_path):
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "quarantine"), credentials={"url": db_url})
    _ingest(sources, dataset, "run-1")
    before = _counts(db_url)
    # ISO weeks 2023-W03 and W04: Monday 2023-01-16 to Sunday 2023-01-29
    backfill = _ingest(sources, dataset, "backfill", backfill={"from": "2023-W03", "to": "2023-W04"})
    with psycopg.connect(db_url) as conn:
        by_run = conn.execute(
            "select run_id, min(first_week)::text, max(last_week)::text, count(*) from ops.ingested_files "
            "where kind = 'sellout' group by run_id order by run_id"
        ).fetchall()
    assert [(run, first >= "2023-01-16", last <= "2023-01-29") for run, first, last, _ in by_run] == [
        ("backfill", True, True),
        ("run-1", False, False),
    ]
    assert backfill["files_loaded"] == by_run[0][3] >= 2  # both retailers' files of those weeks
    assert _counts(db_url) == before  # reloaded in place: nothing twice


def test_a_new_week_loads_only_that_week(sources, db_url, tmp_path, landing):
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "quarantine"), credentials={"url": db_url})
    _ingest(sources, dataset, "run-1")
    generate(landing, weeks=7)
    status = _ingest(sources, dataset, "run-2")
    assert status["files_loaded"] == 2
    assert status["latest_week"] == "2023-02-18"


def test_broken_file_is_quarantined_with_reason_and_others_load(sources, db_url, tmp_path, landing):
    broken = landing / "grocer_a" / "sellout_2099-01-03.csv"
    broken.write_text("this is not,the expected header\n1,2\n")
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "quarantine"), credentials={"url": db_url})
    status = _ingest(sources, dataset, "run-1")
    assert status["files_quarantined"] == 1
    assert not broken.exists()
    kept = tmp_path / "quarantine" / "grocer_a" / broken.name
    assert kept.read_text() == "this is not,the expected header\n1,2\n"
    reason = (kept.parent / (kept.name + ".reason.txt")).read_text()
    assert "required column(s)" in reason
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "select status, reason from ops.ingested_files where file_name = %s", (broken.name,)
        ).fetchone()
    assert row[0] == "quarantined" and "week_ending" in row[1]


def test_rejected_rows_are_kept_and_counted(sources, db_url, tmp_path, landing):
    path = landing / "grocer_a" / "sellout_2023-01-07.csv"
    lines = path.read_text().splitlines()
    fields = lines[5].split(",")
    fields[3] = "lots"
    lines[5] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "quarantine"), credentials={"url": db_url})
    _ingest(sources, dataset, "run-1")
    with psycopg.connect(db_url) as conn:
        rejected = conn.execute("select file_name, line_no, reason from raw.rejected_rows").fetchall()
        loaded, in_file, n_rejected = conn.execute(
            "select rows_loaded, rows_in_file, rows_rejected from ops.ingested_files where file_name = %s",
            (path.name,),
        ).fetchone()
    assert rejected == [(path.name, 6, "line 6, column 'units_sold': 'lots' is not a number")]
    assert loaded + n_rejected == in_file == len(lines) - 1


KILLABLE_INGESTION = """
import sys, time, yaml
from pathlib import Path
from kedro.io import DatasetError

from sellout.config.source_validation import validate_sources
from sellout.datasets import RawFileLoadDataset, raw_load
from sellout.datasets.run_config import code_maps
from sellout.ingest.landing import scan_sources
from sellout.pipelines.ingestion.nodes import parse_new_files, plan_ingestion
raw = yaml.safe_load(Path(sys.argv[3]).read_text())
sources = validate_sources(raw, Path("."))
dataset = RawFileLoadDataset(quarantine_dir=sys.argv[2], credentials={"url": sys.argv[1]})
codes = RawFileLoadDataset(quarantine_dir=sys.argv[2], credentials={"url": sys.argv[1]}, read="master_codes")
context = {"run_id": "killed", "mode": "incremental", "started_at": "2026-11-27T07:00:00+00:00"}
plan = plan_ingestion(scan_sources(sources), dataset.load(), context)
for saved, parsed in enumerate(parse_new_files(plan, sources, codes.load(), code_maps(sources), context, {}), 1):
    dataset.save(parsed)
    if saved == 5:  # five files committed: say so, then wait to be killed
        Path(sys.argv[4]).write_text("5")
        sys.stdin.read()
"""


def _tables(url):
    with psycopg.connect(url) as conn:
        lines = conn.execute(
            "select f.source, f.file_name, l.line_no, l.week_end_date, l.store_code, l.product_code, l.units "
            "from raw.sellout_lines l join ops.ingested_files f using (file_id) order by 1, 2, 3"
        ).fetchall()
        manifest = conn.execute(
            "select source, kind, file_name, sha256, status, rows_loaded from ops.ingested_files order by 1, 3"
        ).fetchall()
        masters = conn.execute("select * from raw.stores order by 1, 2").fetchall()
    return lines, manifest, masters


def test_a_killed_ingestion_rerun_equals_one_clean_run(sources, db_url, pg_server, tmp_path):

    config = tmp_path / "sources.yml"
    config.write_text(
        yaml.safe_dump(
            {"sources": {name: source.model_dump(exclude={"name"}) for name, source in sources.items()}}
        )
    )
    reached = tmp_path / "reached"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_INGESTION, db_url, str(tmp_path / "q"), str(config), str(reached)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not reached.exists():  # the script says when five files are in; no timing involved
        assert process.poll() is None, "the ingestion ended before its fifth file"
        time.sleep(0.02)
    process.kill()
    process.wait()
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "q"), credentials={"url": db_url})
    assert len(dataset.load()) == 5  # killed mid-run, after exactly five committed files
    _ingest(sources, dataset, "rerun")

    with temporary_database(pg_server["url"], prefix="clean") as clean_url:
        clean = RawFileLoadDataset(quarantine_dir=str(tmp_path / "q2"), credentials={"url": clean_url})
        _ingest(sources, clean, "clean")
        clean.release()
        assert _tables(db_url) == _tables(clean_url)


def test_an_exception_inside_a_rule_quarantines_that_file_and_the_others_load(
    sources, db_url, tmp_path, landing, monkeypatch
):
    original = parsing.check_delivery_window

    def fails_on_one_file(cols, *args, **kwargs):
        if _current["file"] == "abverkauf_20230114.csv":  # parse_one runs the files one after another
            raise KeyError("boom")
        return original(cols, *args, **kwargs)

    _current = {"file": ""}
    real_parse_one = nodes.parse_one

    def parse_one(landing_file, *args, **kwargs):
        _current["file"] = landing_file.file_name
        return real_parse_one(landing_file, *args, **kwargs)

    monkeypatch.setattr(parsing, "check_delivery_window", fails_on_one_file)
    monkeypatch.setattr(nodes, "parse_one", parse_one)
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "quarantine"), credentials={"url": db_url})
    status = _ingest(sources, dataset, "run-1")
    assert status["files_quarantined"] == 1 and status["files_loaded"] == 15
    (quarantined,) = status["quarantined"]
    assert quarantined["file"] == "abverkauf_20230114.csv"
    assert "rule 'delivery window' failed on this file (KeyError: 'boom')" in quarantined["reason"]
    assert (tmp_path / "quarantine" / "grocer_b" / "abverkauf_20230114.csv").exists()


def test_an_unexpected_error_while_reading_quarantines_the_file(sources, db_url, tmp_path, monkeypatch):
    real = nodes.read_text_table

    def read(path, spec, *args, **kwargs):
        if path.name == "sellout_2023-01-21.csv":
            raise RecursionError("deep")
        return real(path, spec, *args, **kwargs)

    monkeypatch.setattr(nodes, "read_text_table", read)
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "quarantine"), credentials={"url": db_url})
    status = _ingest(sources, dataset, "run-1")
    assert status["files_loaded"] == 15
    assert (
        "unexpected RecursionError while reading and checking the file: deep"
        in status["quarantined"][0]["reason"]
    )


def test_a_database_outage_stops_the_run(sources, db_url, tmp_path, monkeypatch):
    def outage(*args, **kwargs):
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(raw_load, "copy_frame", outage)
    dataset = RawFileLoadDataset(quarantine_dir=str(tmp_path / "quarantine"), credentials={"url": db_url})
    with pytest.raises(DatasetError, match="server closed the connection"):
        _ingest(sources, dataset, "run-1")
    assert not (tmp_path / "quarantine").exists()
    with psycopg.connect(db_url) as conn:
        assert (
            conn.execute("select count(*) from ops.ingested_files where kind = 'sellout'").fetchone()[0] == 0
        )
