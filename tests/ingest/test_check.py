"""``sellout sources check``: an entry tried on its landing folder's files says what would go wrong and the fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sellout.config.schema import ConfigError
from sellout.config.source_validation import validate_sources
from sellout.ingest.check import ERROR, INFO, WARNING, check_source, dry_run_check

TODAY = pd.Timestamp("2026-11-27")
WEDNESDAYS = pd.date_range("2026-09-02", periods=4, freq="7D")


def _entry(folder: Path, **sellout) -> dict:
    return {
        "directory": str(folder),
        "sellout": {
            "pattern": "pos_*.csv",
            "date_format": "%Y-%m-%d",
            "week_ending_weekday": "wednesday",
            "columns": {
                "week_end_date": "WEEK",
                "store_code": "STORE",
                "product_code": "UPC",
                "units": "UNITS",
            },
            **sellout,
        },
    }


def _check(folder: Path, extra: dict | None = None, **sellout):
    entry = {**_entry(folder, **sellout), **(extra or {})}
    source = validate_sources({"sources": {"pos": entry}}, folder)["pos"]
    return check_source(source, today=TODAY)


@pytest.fixture
def folder(tmp_path):
    for week in WEDNESDAYS:
        rows = "".join(f"{week.date()},S{i % 3},{1000 + i},{i + 1},2.5\n" for i in range(20))
        (tmp_path / f"pos_{week.date()}.csv").write_text("WEEK,STORE,UPC,UNITS,PRICE\n" + rows)
    return tmp_path


def _messages(report, level=None):
    return [f"{f.where}: {f.message}" for f in report.findings if level is None or f.level == level]


def test_a_good_entry_passes_and_nothing_is_written(folder):
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}
    report = _check(folder)
    assert report.ok and report.files_checked == 3 and report.rows_checked == 60
    assert _messages(report, INFO) == [
        f"pos_{w.date()}.csv: column(s) not mapped (not loaded): PRICE" for w in WEDNESDAYS[1:]
    ]
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()} == before
    assert report.render().startswith("pos: 3 file(s), 60 rows checked in ")


def test_a_wrong_weekday_says_which_it_is(folder):
    report = _check(folder, week_ending_weekday="sunday")
    assert not report.ok
    assert (
        "pos_2026-09-23.csv: every date in 'WEEK' is a Wednesday: set week_ending_weekday: wednesday"
        in _messages(report, ERROR)
    )
    assert any("would be quarantined: 20 of 20 rows rejected (100%)" in m for m in _messages(report, ERROR))


def test_a_delivery_window_that_rejects_everything(folder):
    report = _check(folder, extra={"delivery_window": {"max_age_weeks": 4}})
    assert any(
        "the file's dates run 2026-09-23..2026-09-23, before the window's start 2026-10-30: raise or remove "
        "delivery_window.max_age_weeks" in m
        for m in _messages(report, ERROR)
    )


def test_a_date_format_that_fails_gets_the_one_that_reads_the_dates(folder):
    report = _check(folder, date_format="%d.%m.%Y")
    assert any(
        "the dates in 'WEEK' look like '2026-09-23': set date_format: '%Y-%m-%d'" in m
        for m in _messages(report)
    )


def test_a_daily_file_read_as_weekly(tmp_path):
    rows = "".join(f"{day.date()},S1,1000,3,2.5\n" for day in pd.date_range("2026-09-01", periods=14))
    (tmp_path / "pos_days.csv").write_text("WEEK,STORE,UPC,UNITS,PRICE\n" + rows)
    report = _check(tmp_path)
    assert any(
        "fall on 7 weekdays: a daily feed? set frequency: daily" in m for m in _messages(report, ERROR)
    )


def test_a_mapped_column_the_files_lack_and_the_other_decimal_mark(folder):
    report = _check(
        folder,
        columns={"week_end_date": "WEEK", "store_code": "Store", "product_code": "UPC", "units": "UNITS"},
    )
    assert any(
        "required column(s) ['Store'] not in header" in m and "'Store' -> 'STORE'?" in m
        for m in _messages(report, ERROR)
    )
    (folder / "pos_2026-09-30.csv").write_text(
        "WEEK;STORE;UPC;UNITS\n2026-09-30;S1;1;1,5\n2026-09-30;S2;1;2,5\n"
    )
    report = _check(folder, csv={"delimiter": ";"})
    assert any("'UNITS' reads as numbers with csv.decimal ',': set it" in m for m in _messages(report))


def test_a_missing_master_file_and_a_missing_folder(folder, tmp_path):
    extra = {"stores": {"pattern": "stores.csv", "columns": {"store_code": "STORE"}}}
    report = _check(folder, extra=extra)
    assert report.ok
    assert any(
        "'stores.csv' matches no file" in m and "the stores dimension carries only the feed's codes" in m
        for m in _messages(report, WARNING)
    )
    report = _check(tmp_path / "nowhere")
    assert not report.ok and "the landing folder" in _messages(report, ERROR)[0]


def test_the_dry_run_check_fails_on_an_error_and_names_the_source(folder):
    good = validate_sources({"sources": {"pos": _entry(folder)}}, folder)
    assert dry_run_check(good)[0] == "ok"
    bad = validate_sources({"sources": {"pos": _entry(folder, week_ending_weekday="monday")}}, folder)
    with pytest.raises(ConfigError, match="pos: pos_2026-09-23.csv: every date in 'WEEK' is a Wednesday"):
        dry_run_check(bad)
