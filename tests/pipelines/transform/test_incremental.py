"""The fact mart built week by week equals the same mart rebuilt from scratch; incremental tests read only what no
passing test has read yet."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import psycopg
import yaml

from sellout.api import run_pipeline
from sellout.sample_data import generate

DBT_PROJECT = Path(__file__).resolve().parents[3] / "dbt" / "dbt_project.yml"
BASE_PRICE_WEEKS = yaml.safe_load(DBT_PROJECT.read_text())["vars"]["base_price_weeks"]
COLUMNS = "source, store_code, product_code, week_end_date, units, sales_value, price, base_price, promotion"


def _fact(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"select {COLUMNS} from marts.fct_sellout_weekly order by 1, 2, 3, 4").fetchall()


def _built_by(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute("select built_by_run, count(*) from marts.fct_sellout_weekly group by 1").fetchall()
        )


def _weeks_built_by(url: str) -> dict[str, set[tuple[str, pd.Timestamp]]]:
    """The (source, week)s each run built."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select distinct built_by_run, source, week_end_date from marts.fct_sellout_weekly"
        ).fetchall()
    out: dict[str, set[tuple[str, pd.Timestamp]]] = {}
    for run, source, week in rows:
        out.setdefault(run, set()).add((source, pd.Timestamp(week)))
    return out


def _fact_indexes(url: str) -> list[str]:
    """The fact table's indexes: what each indexes (columns and the rows' condition), without its name."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select indexdef from pg_indexes where schemaname = 'marts' and tablename = 'fct_sellout_weekly'"
        ).fetchall()
    return sorted(row[0].split(" USING ", 1)[1] for row in rows)


def _built_by_run_indexes(url: str) -> list[str]:
    return [index for index in _fact_indexes(url) if "(built_by_run)" in index]


def _resend_with_a_correction(landing) -> None:
    """A corrected re-delivery of grocer_a's first week: one row's units changed, its last row gone."""
    first = sorted((landing / "grocer_a").glob("sellout_*.csv"))[0]
    rows = list(csv.reader(io.StringIO(first.read_text())))
    rows[1][rows[0].index("units_sold")] = "999"
    (landing / "grocer_a" / f"{first.stem}_corrected.csv").write_text(
        "\n".join(",".join(r) for r in rows[:-1]) + "\n"
    )


def test_weeks_built_incrementally_equal_a_full_rebuild(isolated_project):
    url, landing = isolated_project["url"], isolated_project["landing"]
    generate(landing, weeks=8)
    for pipeline in ("ingestion", "transform"):
        assert run_pipeline(pipeline, run_id="w8").status == "succeeded"
    generate(landing, weeks=9)  # a new week
    _resend_with_a_correction(landing)  # and a corrected old one
    for pipeline in ("ingestion", "transform"):
        assert run_pipeline(pipeline, run_id="w9").status == "succeeded"
    weeks = _weeks_built_by(url)
    assert set(weeks) == {"w8", "w9"}
    every_week = weeks["w8"] | weeks["w9"]
    new_week = max(week for _, week in every_week)
    corrected = min(week for source, week in every_week if source == "grocer_a")
    looking_back = pd.Timedelta(weeks=BASE_PRICE_WEEKS - 1)
    # the touched weeks (the new one, the corrected one) and those whose derived base price looks back at it
    assert weeks["w9"] == {
        (source, week)
        for source, week in every_week
        if week == new_week or (source == "grocer_a" and week <= corrected + looking_back)
    }
    assert weeks["w8"]  # the other sources' earlier weeks were kept
    assert len(_built_by_run_indexes(url)) == 1  # what the incremental tests read by
    incremental = _fact(url)
    assert any(row[4] == 999 for row in incremental)  # the correction won

    assert run_pipeline("transform", mode="full", run_id="full").status == "succeeded"
    assert _built_by(url) == {"full": len(incremental)}
    assert _fact(url) == incremental
    assert len(_built_by_run_indexes(url)) == 1  # the rebuilt table has its own, and only one


def test_an_incremental_build_indexes_a_table_an_earlier_version_built(isolated_project):
    url, landing = isolated_project["url"], isolated_project["landing"]
    generate(landing, weeks=8)
    for pipeline in ("ingestion", "transform"):
        assert run_pipeline(pipeline, run_id="w8").status == "succeeded"
    with psycopg.connect(url) as conn:
        for (index,) in conn.execute(
            "select indexname from pg_indexes where schemaname = 'marts' and tablename = 'fct_sellout_weekly'"
        ).fetchall():
            conn.execute(f'drop index marts."{index}"')
    assert _built_by_run_indexes(url) == []
    generate(landing, weeks=9)
    for pipeline in ("ingestion", "transform"):
        assert run_pipeline(pipeline, run_id="w9").status == "succeeded"
    # the incremental tests' rows, the last build's file, the incomplete weeks, the grain (the weeks rewritten)
    assert _fact_indexes(url) == [
        "btree (built_by_run)",
        "btree (file_id)",
        "btree (week_end_date, source) WHERE (is_complete_week = false)",
        "btree (week_end_date, store_code, product_code)",
    ]


def _plant_a_negative_line(url: str, week_index: int) -> None:
    """A line that breaks not_negative (units -5, not a return) in the file of grocer_a's `week_index`-th week,
    written behind the loader's back (so only a test that reads that week sees it)."""
    with psycopg.connect(url) as conn:
        file_id = conn.execute(
            "select file_id from ops.ingested_files where source = 'grocer_a' and kind = 'sellout' "
            "and status = 'loaded' order by first_week offset %s limit 1",
            (week_index,),
        ).fetchone()[0]
        conn.execute(
            "create temp table planted as select * from raw.sellout_lines where file_id = %s limit 1",
            (file_id,),
        )
        conn.execute(
            "update planted set product_code = 'PLANTED', units = -5, is_return = false, line_no = 999999"
        )
        conn.execute("insert into raw.sellout_lines select * from planted")


def _units_failures(run) -> int:
    """The failing rows of the fact table's not_negative(units) test, as the run's error names them."""
    found = re.search(
        r"not_negative_fct_sellout_weekly_units\S* \[fail\] \((\d+) failing rows\)", str(run.error)
    )
    return int(found.group(1)) if found else 0


def test_incremental_tests_read_what_no_passing_test_has_read(isolated_project):
    url, landing = isolated_project["url"], isolated_project["landing"]
    generate(landing, weeks=8)
    for pipeline in ("ingestion", "transform"):
        assert run_pipeline(pipeline, run_id="w8").status == "succeeded"
    _plant_a_negative_line(url, 0)  # in a week that a passing test read: the incremental tests do not read it

    generate(landing, weeks=9)
    assert run_pipeline("ingestion", run_id="w9").status == "succeeded"
    _plant_a_negative_line(url, 8)  # in the new week: its run's tests read it and fail
    failed = run_pipeline("transform", run_id="w9", raise_on_error=False)
    assert failed.status == "failed" and "dbt test failed" in str(failed.error)
    assert _units_failures(failed) == 1
    # nothing new, but no passing test has read the new week: fails again
    retried = run_pipeline("transform", run_id="w9-retry", raise_on_error=False)
    assert retried.status == "failed" and "not_negative_fct_sellout_weekly_units" in str(retried.error)
    assert _units_failures(retried) == 1

    full = run_pipeline(
        "transform", mode="full", run_id="full", raise_on_error=False
    )  # every row: both lines
    assert full.status == "failed" and _units_failures(full) == 2
