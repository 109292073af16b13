"""Feeds nobody here wrote, through the real ingestion and the real dbt: every dbt test holds.

A source with no master files (its stores and products come from the sell-out codes, names from the feed), a
daily value-only source without products, a duplicate delivery (same bytes, another name) and a quarantined file
sit side by side in one database; ``dbt run`` and ``dbt test`` then pass.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support.databases import temporary_database

from sellout.config.source_validation import validate_sources
from sellout.datasets import PostgresTableDataset, RawFileLoadDataset
from sellout.datasets.run_config import code_maps
from sellout.ingest.landing import scan_sources
from sellout.integrations import db
from sellout.pipelines.ingestion.nodes import parse_new_files, plan_ingestion, summarize_ingestion
from sellout.pipelines.preprocessing.nodes import build_model_panel, summarize_model_panel
from sellout.pipelines.transform.nodes import dbt_run, dbt_test

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SOURCES = """
sources:
  neu:
    directory: {root}/neu
    sellout:
      pattern: "abverkauf_*"
      csv: {{delimiter: ";", decimal: ","}}
      date_format: "%d.%m.%Y"
      week_ending_weekday: saturday
      true_values: ["1"]
      columns: {{week_end_date: Woche, store_code: Filiale, store_name: Filialname, product_code: Artikel,
                 product_description: Bezeichnung, units: Menge, sales_value: Umsatz, tpr_only: Aktion}}
  tage:
    directory: {root}/tage
    sellout:
      pattern: "tage_*"
      frequency: daily
      week_ending_weekday: sunday
      columns: {{date: Date, store_code: Store, sales_value: Sales, open: Open, promotion: Promo}}
      constants: {{product_code: ALL}}
  preis:
    directory: {root}/preis
    sellout:
      pattern: "preis_*"
      week_ending_weekday: saturday
      columns: {{week_end_date: Week, store_code: Store, product_code: Item, units: Units, price: Price,
                 base_price: BasePrice}}
"""
CONTEXT = {"run_id": "r1", "mode": "incremental", "started_at": "2026-11-27T07:00:00+00:00", "dry_run": False}


def _write_files(root: Path) -> None:
    (root / "neu").mkdir()
    (root / "tage").mkdir()
    weeks = pd.date_range("2026-08-01", periods=16, freq="7D")  # Saturdays
    for index, week in enumerate(weeks):
        lines = ["Woche;Filiale;Filialname;Artikel;Bezeichnung;Menge;Umsatz;Aktion"]
        for store in ("F1", "F2"):
            for product in ("A1", "A2", "A3"):
                promoted = (index + int(product[1])) % 5 == 0
                units = 10 + index % 3 + (5 if promoted else 0)
                sales = f"{units * (1.5 if promoted else 2.0):.2f}".replace(".", ",")
                lines.append(
                    f"{week.strftime('%d.%m.%Y')};{store};Filiale {store};{product};Artikel {product};{units};"
                    f"{sales};{int(promoted)}"
                )
        (root / "neu" / f"abverkauf_{week.date()}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = root / "neu" / f"abverkauf_{weeks[0].date()}.csv"
    shutil.copy(first, root / "neu" / "abverkauf_copy_of_the_first.csv")  # recorded as a duplicate
    (root / "neu" / "abverkauf_broken.csv").write_text("nothing;like;the;header\n1;2;3;4\n", encoding="utf-8")
    days = pd.date_range(
        "2026-08-03", "2026-09-02", freq="D"
    )  # Monday ... a Wednesday: the last week is partial
    rows = ["Store,Date,Sales,Open,Promo"]
    for store in (1, 2, 3):
        for day in days:
            closed = day.day_of_week == 6
            rows.append(
                f"{store},{day.date()},{0 if closed else 1000 + store * 10 + day.day},{int(not closed)},0"
            )
    (root / "tage" / "tage_2026-08.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "preis").mkdir()
    for index, week in enumerate(weeks[:4]):  # a base price on every line, promoted or not
        price = "1.60" if index == 2 else "2.00"
        _write_priced_week(root / "preis", week, [f"P1,B1,{7 + index},{price},2.{index}0"])


def _write_priced_week(folder: Path, week: pd.Timestamp, lines: list[str], suffix: str = "") -> None:
    (folder / f"preis_{week.date()}{suffix}.csv").write_text(
        "Week,Store,Item,Units,Price,BasePrice\n" + "".join(f"{week.date()},{line}\n" for line in lines),
        encoding="utf-8",
    )


def _load_and_build(root: Path, url: str, context: dict) -> tuple[dict, dict]:
    """Ingest what is new under ``root``, then ``dbt run`` and ``dbt test``: the ingestion summary and dbt test
    status."""
    sources = validate_sources(yaml.safe_load(SOURCES.format(root=root)), root)
    dataset = RawFileLoadDataset(quarantine_dir=str(root / "quarantine"), credentials={"url": url})
    codes = RawFileLoadDataset(quarantine_dir="unused", credentials={"url": url}, read="master_codes")
    plan = plan_ingestion(scan_sources(sources), dataset.load(), context)
    for parsed in parse_new_files(plan, sources, codes.load(), code_maps(sources), context, {}):
        dataset.save(parsed)
    ingestion = summarize_ingestion(dataset.load(), context)
    dataset.release()
    run_status = dbt_run(ingestion, context, {"url": url}, {})
    return ingestion, dbt_test(run_status, context, {"url": url}, {})


def _tables(url: str, *names: str) -> dict[str, pd.DataFrame]:
    with db.connect(url) as conn:
        return {name: pd.read_sql(f"select * from {name}", conn) for name in names}  # noqa: S608 - fixed names


@pytest.fixture(scope="module")
def built(pg_server):
    root = Path(tempfile.mkdtemp(prefix="feeds", dir="/tmp"))
    _write_files(root)
    with (
        temporary_database(pg_server["url"], prefix="feeds") as url,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("DBT_TARGET_PATH", str(root / "dbt" / "target"))
        patch.setenv("DBT_LOG_PATH", str(root / "dbt" / "logs"))
        ingestion, test_status = _load_and_build(root, url, CONTEXT)
        tables = _tables(
            url, "marts.fct_sellout_weekly", "marts.dim_store", "marts.dim_product", "ops.ingested_files"
        )
        yield {"ingestion": ingestion, "test": test_status, "url": url, **tables}
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.integration
def test_every_dbt_test_holds_after_a_duplicate_a_quarantine_and_feeds_without_master_files(built):
    assert set(built["ops.ingested_files"]["status"]) == {"loaded", "quarantined", "duplicate"}
    assert built["ingestion"]["files_duplicate"] == 1 and built["ingestion"]["files_quarantined"] == 1
    assert built["test"]["success"] and built["test"]["failures"] == 0
    names = {r["unique_id"].split(".")[2] for r in built["test"]["results"]}
    assert any(n.startswith("source_accepted_values_ops_ingested_files_status") for n in names)
    assert any(n.startswith("relationships_fct_sellout_weekly_store_code") for n in names)


@pytest.mark.integration
def test_the_dimensions_come_from_the_feeds_codes_and_names(built):
    stores = built["marts.dim_store"].set_index("store_code")
    assert {"F1", "F2", "1", "2", "3"} <= set(stores.index)
    assert stores.loc["F1", "store_name"] == "Filiale F1" and not stores.loc["F1", "has_master_data"]
    products = built["marts.dim_product"].set_index("product_code")
    assert products.loc["A2", "description"] == "Artikel A2"
    assert "ALL" in products.index


@pytest.mark.integration
def test_the_mart_says_what_each_source_measures_and_which_weeks_are_complete(built):
    fct = built["marts.fct_sellout_weekly"]
    by_source = fct.groupby("source")["measure"].unique().map(list).to_dict()
    assert by_source == {"neu": ["units"], "preis": ["units"], "tage": ["sales_value"]}
    daily = fct[fct["source"] == "tage"]
    daily = daily.set_index(["store_code", daily["week_end_date"].astype(str)])
    assert daily["units"].isna().all()
    assert daily.loc[("1", "2026-08-09"), ["days_reported", "days_closed", "is_complete_week"]].tolist() == [
        7,
        1,
        True,
    ]
    assert not daily.loc[("1", "2026-09-06"), "is_complete_week"]  # Monday to Wednesday only
    weekly = fct[fct["source"] == "neu"]
    assert weekly["is_complete_week"].all() and weekly["days_reported"].isna().all()
    # no base price in the feed: the highest non-promoted price of recent weeks, flagged as derived
    assert weekly["base_price_derived"].all()
    assert (weekly["base_price"].astype(float) == 2.0).all()
    assert (weekly["price"].astype(float).round(2).isin([1.5, 2.0])).all()  # sales value over units
    # a feed that delivers the base price everywhere keeps it as delivered, none derived
    delivered = fct[fct["source"] == "preis"].sort_values("week_end_date")
    assert not delivered["base_price_derived"].any()
    assert delivered["base_price"].astype(float).tolist() == [2.0, 2.1, 2.2, 2.3]


@pytest.mark.integration
def test_the_catalogs_incomplete_weeks_count_as_the_whole_mart_does(built):
    entry = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "catalog_transform.yml").read_text())
    spec = entry["incomplete_weeks"]
    incomplete = PostgresTableDataset(
        table=spec["table"], credentials={"url": built["url"]}, load_args=spec["load_args"]
    )
    fct = built["marts.fct_sellout_weekly"]
    daily = fct[fct["source"] == "tage"]  # a panel holds one week-ending weekday: the daily feed's
    panel = build_model_panel(daily, {"success": True}, {"min_weeks_history": 1})
    from_catalog = summarize_model_panel(incomplete.load(), panel)
    assert from_catalog == summarize_model_panel(fct, panel)
    assert from_catalog["sources"]["tage"]["incomplete_weeks"] == 3  # stores 1-3: Monday to Wednesday only


def _rename(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


@pytest.mark.integration
def test_the_names_built_week_by_week_equal_a_full_rebuild(pg_server, tmp_path, monkeypatch):
    """The feed's names reach the dimensions through fct_fed_names_weekly, built week by week: a name changed in
    a new week and a corrected re-delivery of an old week (which also retracts the one line of a product no
    other week has) give the dimensions a full rebuild gives."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt" / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt" / "logs"))
    _write_files(tmp_path)
    weekly = sorted((tmp_path / "neu").glob("abverkauf_2026-*.csv"))
    later = tmp_path / "later"
    later.mkdir()
    for path in weekly[8:]:
        path.rename(later / path.name)
    original = weekly[7].read_text(encoding="utf-8")
    retracted = original.splitlines()[1].replace(";A1;Artikel A1;", ";A9;Artikel A9;")
    weekly[7].write_text(f"{original}{retracted}\n", encoding="utf-8")  # A9: in this delivery only
    dims = ("marts.dim_store", "marts.dim_product", "marts.fct_fed_names_weekly", "marts.fct_sellout_weekly")
    with temporary_database(pg_server["url"], prefix="names") as url:
        _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "first"})
        first = _tables(url, "marts.fct_fed_names_weekly")["marts.fct_fed_names_weekly"]
        assert "A9" in set(_tables(url, "marts.dim_product")["marts.dim_product"]["product_code"])
        for path in sorted(later.iterdir()):
            path.rename(tmp_path / "neu" / path.name)
        _rename(weekly[-1], "Filiale F1", "Filiale F1 Neu")  # the newest week renames a store
        for path in weekly[8:]:
            _rename(path, "Artikel A3", "")  # the new weeks do not name A3 ...
        corrected = (
            tmp_path / "neu" / f"{weekly[7].stem}_corrected.csv"
        )  # ... the corrected last old week does
        corrected.write_text(original.replace("Artikel A3", "Artikel A3 alt"))  # and without A9
        ingestion, test_status = _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "second"})
        assert ingestion["files_loaded"] >= 9 and test_status["success"]
        incremental = _tables(url, *dims)
        _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "full", "mode": "full"})
        rebuilt = _tables(url, *dims)

    names = incremental["marts.fct_fed_names_weekly"]
    assert len(first) < len(names)  # the first run built the first weeks only
    stores = incremental["marts.dim_store"].set_index("store_code")["store_name"]
    products = incremental["marts.dim_product"].set_index("product_code")["description"]
    assert stores["F1"] == "Filiale F1 Neu" and stores["F2"] == "Filiale F2"
    assert products["A3"] == "Artikel A3 alt"  # the corrected week is the latest that names A3
    assert "A9" not in products.index and "A9" not in set(names["code"])  # retracted with its week
    assert "A9" not in set(incremental["marts.fct_sellout_weekly"]["product_code"])
    for name in dims:
        keys = [
            c
            for c in ("source", "week_end_date", "kind", "code", "store_code", "product_code")
            if c in rebuilt[name]
        ]
        assert_frame_equal_sorted(incremental[name], rebuilt[name], keys)


def assert_frame_equal_sorted(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> None:
    """Equal rows whatever their order; file ids and the building run aside (a full run loads the files again,
    under new ids, and builds every row)."""
    left, right = (
        left.drop(columns=["file_id", "built_by_run"], errors="ignore"),
        right.drop(columns=["file_id", "built_by_run"], errors="ignore"),
    )
    pd.testing.assert_frame_equal(
        left.sort_values(keys).reset_index(drop=True), right.sort_values(keys).reset_index(drop=True)
    )


def _built_fct_sql(target: Path) -> str:
    return (target / "run" / "sellout" / "models" / "marts" / "fct_sellout_weekly.sql").read_text()


@pytest.mark.integration
def test_the_base_price_is_derived_for_the_series_that_lack_it_alone(pg_server, tmp_path, monkeypatch):
    """A feed that lacks the base price on a few lines: the build derives it for those series only (the others
    pass through, as delivered); a later week with every base price derives nothing; both equal a full rebuild."""
    target = tmp_path / "dbt" / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt" / "logs"))
    for name in ("neu", "tage", "preis"):
        (tmp_path / name).mkdir()
    weeks = pd.date_range("2026-06-06", periods=20, freq="7D")  # Saturdays, before the run's day
    for index, week in enumerate(weeks[:4]):
        b2 = "P1,B2,5,1.00," if index == 3 else "P1,B2,5,3.00,3.00"  # week 4: promoted, no base price
        _write_priced_week(tmp_path / "preis", week, [f"P1,B1,{7 + index},2.00,2.{index}0", b2])
    with temporary_database(pg_server["url"], prefix="basis") as url:
        _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "first"})
        assert "series_without_base_price" in _built_fct_sql(target)
        # weeks later than base_price_weeks after the gap: every line the build reads has its base price
        _write_priced_week(tmp_path / "preis", weeks[-1], ["P1,B1,9,2.00,2.50", "P1,B2,4,3.00,3.00"])
        ingestion, test_status = _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "second"})
        assert ingestion["files_loaded"] == 1 and test_status["success"]
        assert " over (" not in _built_fct_sql(target)
        incremental = _tables(url, "marts.fct_sellout_weekly")["marts.fct_sellout_weekly"]
        _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "full", "mode": "full"})
        rebuilt = _tables(url, "marts.fct_sellout_weekly")["marts.fct_sellout_weekly"]

    fct = incremental.set_index(["product_code", incremental["week_end_date"].astype(str)])
    assert fct["base_price_derived"].sum() == 1
    assert fct.loc[("B2", str(weeks[3].date())), ["base_price", "base_price_derived"]].tolist() == [3.0, True]
    assert fct.loc["B1", "base_price"].astype(float).tolist() == [2.0, 2.1, 2.2, 2.3, 2.5]
    assert_frame_equal_sorted(incremental, rebuilt, ["source", "store_code", "product_code", "week_end_date"])


def _by_product_and_week(fct: pd.DataFrame) -> pd.DataFrame:
    return fct.set_index(["product_code", fct["week_end_date"].astype(str)]).sort_index()


@pytest.mark.integration
def test_weeks_without_a_base_price_built_run_by_run_equal_a_full_rebuild(pg_server, tmp_path, monkeypatch):
    """A new week lacking the base price derives it from the weeks the table holds before it, and rewrites no
    earlier week; a corrected earlier week rewrites the later weeks whose derived base price looks back at it.
    Built run by run, the table equals a full rebuild."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt" / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt" / "logs"))
    for name in ("neu", "tage", "preis"):
        (tmp_path / name).mkdir()
    folder = tmp_path / "preis"
    weeks = pd.date_range("2026-06-06", periods=4, freq="7D")  # Saturdays, before the run's day
    for week in weeks[:2]:
        _write_priced_week(folder, week, ["P1,B1,7,2.00,2.00", "P1,B2,5,3.00,3.00"])
    with temporary_database(pg_server["url"], prefix="rueck") as url:
        _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "first"})
        _write_priced_week(folder, weeks[2], ["P1,B1,7,2.00,2.00", "P1,B2,9,1.00,"])
        _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "second"})
        second = _by_product_and_week(_tables(url, "marts.fct_sellout_weekly")["marts.fct_sellout_weekly"])
        # week 1 corrected (B2 at 3.40), and a new week 3 without B2's base price
        _write_priced_week(folder, weeks[0], ["P1,B1,7,2.00,2.00", "P1,B2,5,3.40,3.40"], suffix="_korrektur")
        _write_priced_week(folder, weeks[3], ["P1,B1,7,2.00,2.00", "P1,B2,9,1.20,"])
        ingestion, test_status = _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "third"})
        assert ingestion["files_loaded"] == 2 and test_status["success"]
        incremental = _tables(url, "marts.fct_sellout_weekly")["marts.fct_sellout_weekly"]
        _load_and_build(tmp_path, url, {**CONTEXT, "run_id": "full", "mode": "full"})
        rebuilt = _tables(url, "marts.fct_sellout_weekly")["marts.fct_sellout_weekly"]

    week = [str(w.date()) for w in weeks]
    assert second.loc[("B2", week[2]), ["base_price", "base_price_derived"]].tolist() == [3.0, True]
    assert set(second.loc[second["built_by_run"] == "second"].index) == {("B1", week[2]), ("B2", week[2])}
    third = _by_product_and_week(incremental)
    assert third.loc["B2", "base_price"].astype(float).tolist() == [3.4, 3.0, 3.4, 3.4]
    assert set(third["built_by_run"]) == {"third"}  # week 1 and the weeks that look back at it, and week 4
    assert_frame_equal_sorted(incremental, rebuilt, ["source", "store_code", "product_code", "week_end_date"])
