"""The fact mart built week by week equals the same mart rebuilt from scratch; incremental tests read only the
rows their run built."""

from __future__ import annotations

import csv
import io

import psycopg

from sellout.api import run_pipeline
from sellout.sample_data import generate

COLUMNS = "source, store_code, product_code, week_end_date, units, sales_value, price, base_price, promotion"


def _fact(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"select {COLUMNS} from marts.fct_sellout_weekly order by 1, 2, 3, 4").fetchall()


def _built_by(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute("select built_by_run, count(*) from marts.fct_sellout_weekly group by 1").fetchall()
        )


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
    built = _built_by(url)
    assert set(built) == {"w8", "w9"} and built["w9"] < built["w8"]  # only the touched weeks were rebuilt
    incremental = _fact(url)
    assert any(row[4] == 999 for row in incremental)  # the correction won

    assert run_pipeline("transform", mode="full", run_id="full").status == "succeeded"
    assert _built_by(url) == {"full": len(incremental)}
    assert _fact(url) == incremental
