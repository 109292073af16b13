"""``sellout sources suggest``: for every format the tests write, and for dunnhumby and Rossmann, the entry it
prints loads the files with no rejected row and no edit."""

from __future__ import annotations

import gzip
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml
from conftest import SHARED_DIR

from sellout.config.source_validation import validate_sources
from sellout.datasets.raw_load import MANIFEST_COLUMNS
from sellout.ingest.header_synonyms import normalise
from sellout.ingest.landing import scan_sources
from sellout.ingest.parsing import parse_sellout
from sellout.ingest.reading import read_text_table
from sellout.ingest.suggest import file_pattern, suggest_source
from sellout.pipelines.ingestion.nodes import parse_new_files, plan_ingestion
from sellout.sample_data import generate

CONTEXT = {"run_id": "suggest", "mode": "incremental", "started_at": "2026-11-27T07:00:00+00:00"}
WEEKS = pd.date_range("2026-06-06", periods=6, freq="7D")  # Saturdays
NO_MASTER_CODES = pd.DataFrame(columns=["source", "kind", "code"])


def load_with_suggestion(file: Path, name: str = "new") -> tuple[dict, list]:
    """Suggest an entry for ``file``, validate it as printed, and run the ingestion's parse on every file of its
    folder that the entry's pattern matches. Returns the suggestion's text and the parsed files."""
    suggestion = suggest_source(file, name=name)
    text = suggestion.render()
    sources = validate_sources(yaml.safe_load(text), file.parent)
    plan = plan_ingestion(scan_sources(sources), pd.DataFrame(columns=MANIFEST_COLUMNS), CONTEXT)
    parsed = list(
        parse_new_files(
            plan, sources, NO_MASTER_CODES, {(name, "stores"): None, (name, "products"): None}, CONTEXT, {}
        )
    )
    return {"text": text, "suggestion": suggestion, "sources": sources}, parsed


def assert_all_rows_load(parsed: list, files: int) -> None:
    assert len(parsed) == files
    for item in parsed:
        assert item.status == "loaded", (item.landing.file_name, item.quarantine_reason)
        assert len(item.rejected) == 0, item.rejected["reason"].head().tolist()
        assert item.rows_loaded == item.rows_in_file > 0


def _write_german(folder: Path) -> None:
    folder.mkdir()
    for week in WEEKS:
        lines = ["Woche;Filiale;Artikel;Menge;Umsatz;Preis;Normalpreis;Prospekt;Retoure"]
        for i in range(30):
            units = -1 if i == 7 else i % 9 + 1
            sales = f"{units * 1.99:.2f}".replace(".", ",")
            lines.append(
                f"{week.strftime('%d.%m.%Y')};Fü{i % 4};{4001000 + i};{units};{sales};1,99;2,49;"
                f"{'1' if i % 6 == 0 else '0'};{'1' if units < 0 else '0'}"
            )
        (folder / f"abverkauf_KW{week.isocalendar().week}.csv").write_bytes(
            "\n".join(lines).encode("latin-1")
        )


def _write_us(folder: Path) -> None:
    folder.mkdir()
    for week in WEEKS:
        body = "".join(
            f'{week.date()},U{i % 3},{100200300 + i},{i + 1},"1,234.50",2.50,"note, with comma",Y\n'
            for i in range(12)
        )
        header = "week_ending,store_id,upc,qty,dollars,price,comment,on_promo\n"
        (folder / f"pos_{week.date()}.csv").write_bytes(b"\xef\xbb\xbf" + (header + body).encode("utf-8"))


def _write_pipe_without_master(folder: Path) -> None:
    folder.mkdir()
    for n, week in enumerate(WEEKS[:3]):
        lines = ["WeekEnd|Shop|ShopName|EAN|Article|Qty|Sales|Promo"]
        for i in range(12):
            sales = "-" if i == 3 else f"{(i + 1) * 2.5:.2f}"
            lines.append(f"{week.date()}|M{i % 4}|Markt {i % 4}|40{i:08d}|Müsli {i}|{i + 1}|{sales}|{i % 2}")
        (folder / f"export_{n:02d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_utf16(folder: Path) -> None:
    folder.mkdir()
    for week in WEEKS[:2]:
        rows = ["Woche\tFiliale\tArtikel\tMenge"] + [
            f"{week.strftime('%d.%m.%Y')}\tF{i % 3}\tA{i}\t{i + 1}" for i in range(10)
        ]
        (folder / f"woche_{week.date()}.txt").write_bytes(("\r\n".join(rows) + "\r\n").encode("utf-16"))


def _write_workbook(folder: Path, merged_header: bool) -> None:
    folder.mkdir()
    for week in WEEKS[:2]:
        workbook = openpyxl.Workbook()
        cover = workbook.active
        cover.title = "Cover"
        cover.append(["A cover sheet"])
        sheet = workbook.create_sheet("Sales")
        if merged_header:
            sheet.append([f"Abverkauf {week.date()}"])
            sheet.merge_cells("A1:E1")
            sheet.append(["Zeit", None, "Ort", "Werte", None])
            sheet.merge_cells("A2:B2")
        sheet.append(["Woche", "Artikel", "Filiale", "Menge", "Preis"])
        for i in range(20):
            sheet.append([week.strftime("%d/%m/%Y"), f"X{i}", f"F{i % 2}", i + 1, 1.25])
        workbook.save(folder / f"sales_{week.date()}.xlsx")


def _write_daily_value_only(folder: Path) -> None:
    folder.mkdir()
    lines = ["Filiale;Tag;Umsatz;Geoeffnet;Aktion;Kunden"]
    for store in range(1, 6):
        for day in pd.date_range("2026-06-01", "2026-06-30", freq="D"):
            closed = day.day_of_week == 6
            value = "0" if closed else f"{1000 + store * 3 + day.day},50"
            lines.append(
                f"{store};{day.strftime('%d.%m.%Y')};{value};{int(not closed)};{int(day.day < 8)};{day.day}"
            )
    (folder / "tagesumsatz_2026-06.csv.gz").write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))


FORMATS = {
    "german_csv": (_write_german, "abverkauf_KW23.csv", 6),
    "us_csv_with_bom": (_write_us, "pos_2026-06-06.csv", 6),
    "pipes_no_master_no_price": (_write_pipe_without_master, "export_00.txt", 3),
    "utf16_tabs": (_write_utf16, "woche_2026-06-06.txt", 2),
    "workbook": (lambda folder: _write_workbook(folder, False), "sales_2026-06-06.xlsx", 2),
    "workbook_with_merged_header": (lambda folder: _write_workbook(folder, True), "sales_2026-06-06.xlsx", 2),
    "daily_value_only_gzip": (_write_daily_value_only, "tagesumsatz_2026-06.csv.gz", 1),
}


@pytest.mark.parametrize("kind", FORMATS)
def test_the_suggested_entry_loads_every_row_of_the_format(tmp_path, kind):
    write, sample, files = FORMATS[kind]
    write(tmp_path / kind)
    result, parsed = load_with_suggestion(tmp_path / kind / sample)
    assert_all_rows_load(parsed, files)


def test_what_the_suggestion_says_about_a_german_file(tmp_path):
    _write_german(tmp_path / "de")
    result, parsed = load_with_suggestion(tmp_path / "de" / "abverkauf_KW23.csv")
    spec = result["sources"]["new"].sellout
    assert (spec.csv.delimiter, spec.csv.decimal, spec.date_format, spec.week_ending_weekday) == (
        ";",
        ",",
        "%d.%m.%Y",
        "saturday",
    )
    assert spec.columns == {
        "week_end_date": "Woche",
        "store_code": "Filiale",
        "product_code": "Artikel",
        "units": "Menge",
        "sales_value": "Umsatz",
        "price": "Preis",
        "base_price": "Normalpreis",
        "feature": "Prospekt",
    }
    assert spec.returns_column == "Retoure" and spec.pattern == "abverkauf_KW*.csv*"
    assert "unsure: not UTF-8" in result["text"]


def test_what_the_suggestion_says_about_a_daily_file_without_products(tmp_path):
    _write_daily_value_only(tmp_path / "d")
    result, parsed = load_with_suggestion(tmp_path / "d" / "tagesumsatz_2026-06.csv.gz")
    spec = result["sources"]["new"].sellout
    assert (spec.frequency, spec.measure, spec.constants) == ("daily", "sales_value", {"product_code": "ALL"})
    assert spec.columns["open"] == "Geoeffnet" and spec.columns["promotion"] == "Aktion"
    assert "week_ending_weekday: sunday  # unsure:" in result["text"]
    assert "# not mapped: Kunden" in result["text"]
    weeks = parsed[0].rows
    assert weeks["days_closed"].max() == 1 and not weeks["is_complete_week"].all()


def test_the_us_file_reads_thousands_separators(tmp_path):
    _write_us(tmp_path / "us")
    result, parsed = load_with_suggestion(tmp_path / "us" / "pos_2026-06-06.csv")
    assert result["sources"]["new"].sellout.csv.thousands == ","
    assert parsed[0].rows["sales_value"].iloc[0] == 1234.5
    assert result["sources"]["new"].sellout.columns["promotion"] == "on_promo"


def _write_case_counts_with_total(folder: Path) -> None:
    """A US feed that counts in thousands with grouping commas and ends each file with a "Total" line."""
    folder.mkdir()
    for week in WEEKS:
        rows = [
            f'{week.date()},U{i % 3},{100200300 + i},"{(i + 1) * 1000:,}",{(i + 1) * 1.99:.2f}'
            for i in range(12)
        ]
        total = f'Total,,,"{78000:,}",{sum((i + 1) * 1.99 for i in range(12)):.2f}'
        text = "\n".join(["week_ending,store_id,upc,units,dollars", *rows, total]) + "\n"
        (folder / f"pos_{week.date()}.csv").write_text(text)


def test_grouped_thousands_and_a_total_line(tmp_path):
    _write_case_counts_with_total(tmp_path / "us")
    result, parsed = load_with_suggestion(tmp_path / "us" / f"pos_{WEEKS[0].date()}.csv")
    spec = result["sources"]["new"].sellout
    # "1,000" reads either way; the file's "1.99" make '.' the decimal mark, so ',' groups thousands
    assert (spec.csv.decimal, spec.csv.thousands) == (".", ",")
    # one "Total" line in the date column does not hide it; the entry says its rows are rejected
    assert spec.columns["week_end_date"] == "week_ending"
    assert "not dates in %Y-%m-%d ('Total'): their rows are rejected" in result["text"]
    assert len(parsed) == len(WEEKS)
    for item in parsed:
        assert item.status == "loaded"
        assert item.rows_loaded == 12 and item.rows["units"].max() == 12000
        assert item.rejected["reason"].tolist() == [
            "line 14: a summary line (no store and no product code), not a sale"
        ]


def test_a_workbook_of_date_cells_with_a_total_row(tmp_path):
    folder = tmp_path / "xl"
    folder.mkdir()
    for week in WEEKS[:2]:
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = "Sales"
        sheet.append(["Week", "Store", "Item", "Units", "Promo"])
        for i in range(20):  # real date cells; the promo cell left empty but on every fourth row
            sheet.append([week.to_pydatetime(), f"F{i % 2}", f"X{i}", i + 1, "Y" if i % 4 == 0 else None])
        sheet.append(["Total", None, None, 210, None])
        workbook.save(folder / f"sales_{week.date()}.xlsx")
    result, parsed = load_with_suggestion(folder / f"sales_{WEEKS[0].date()}.xlsx")
    assert result["sources"]["new"].sellout.columns["week_end_date"] == "Week"
    assert len(parsed) == 2
    for item in parsed:
        assert item.status == "loaded", item.quarantine_reason
        assert item.rows_loaded == 20 and item.rows["promotion"].sum() == 5
        assert item.rejected["reason"].tolist() == [
            "line 22: a summary line (no store and no product code), not a sale"
        ]


@pytest.mark.parametrize(
    "date_format", ["%d-%b-%Y", "%B %d, %Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M"]
)
def test_month_names_and_midnight_timestamps(tmp_path, date_format):
    folder = tmp_path / "export"
    folder.mkdir()
    for week in WEEKS[:3]:
        rows = [f'"{week.strftime(date_format)}",S{i % 3},{500 + i},{i + 1}' for i in range(9)]
        (folder / f"export_{week.date()}.csv").write_text("\n".join(["week,store,sku,qty", *rows]) + "\n")
    result, parsed = load_with_suggestion(folder / f"export_{WEEKS[0].date()}.csv")
    assert result["sources"]["new"].sellout.date_format == date_format
    assert_all_rows_load(parsed, 3)
    assert parsed[0].rows["week_end_date"].unique().tolist() == [WEEKS[0]]


def test_week_numbers_are_dated_on_the_weeks_last_day(tmp_path):
    folder = tmp_path / "kw"
    folder.mkdir()
    for week in WEEKS[:3]:  # Saturdays of ISO weeks 23-25 of 2026
        rows = [
            f"KW {week.isocalendar().week:02d}/{week.isocalendar().year};F{i % 3};{700 + i};{i + 1}"
            for i in range(9)
        ]
        (folder / f"abverkauf_kw{week.isocalendar().week}.csv").write_text(
            "\n".join(["Kalenderwoche;Filiale;Artikel;Menge", *rows]) + "\n"
        )
    result, parsed = load_with_suggestion(folder / "abverkauf_kw23.csv")
    spec = result["sources"]["new"].sellout
    assert (spec.date_format, spec.week_ending_weekday) == ("KW %V/%G", "sunday")
    assert "week_ending_weekday: sunday  # unsure: the dates are week numbers" in result["text"]
    assert_all_rows_load(parsed, 3)
    assert sorted(week for item in parsed for week in item.rows["week_end_date"].unique()) == list(
        WEEKS[:3] + pd.Timedelta(days=1)
    )
    # the retailer's weeks end on Saturday: the same week numbers are dated on the Saturdays
    saturday = spec.model_copy(update={"week_ending_weekday": "saturday"})
    text = read_text_table(folder / "abverkauf_kw23.csv", saturday)
    assert parse_sellout(text, saturday).rows["week_end_date"].unique().tolist() == [WEEKS[0]]


def test_a_header_that_names_two_columns_is_left_unmapped(tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    for week in WEEKS[:2]:
        rows = [f"{week.date()},S{i % 2},{900 + i},{i + 1},1.99,2.49" for i in range(8)]
        header = "week,store,sku,qty,price,price"  # the shelf price and the paid one, both "price"
        (folder / f"pos_{week.date()}.csv").write_text("\n".join([header, *rows]) + "\n")
    result, parsed = load_with_suggestion(folder / f"pos_{WEEKS[0].date()}.csv")
    assert "price" not in result["sources"]["new"].sellout.columns
    assert "# note: 'price' names more than one column: not mapped" in result["text"]
    assert_all_rows_load(parsed, 2)  # mapped, the ingestion would quarantine every file


def test_the_sample_retailers_files(tmp_path):
    generate(tmp_path, weeks=3)
    for retailer, first in (("grocer_a", "sellout_2023-01-07.csv"), ("grocer_b", "abverkauf_20230107.csv")):
        _, parsed = load_with_suggestion(tmp_path / retailer / first, name=retailer)
        assert_all_rows_load(parsed, 3)


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("transactions.csv.gz", "transactions*.csv*"),
        ("abverkauf_20230107.csv", "abverkauf_*.csv*"),
        ("sales week 12.xlsx", "sales week *.xlsx*"),
        ("POS-2026-11-28_v2.txt", "POS-*_v*.txt*"),
    ],
)
def test_file_patterns_match_the_later_deliveries(name, pattern):
    assert file_pattern(name) == pattern


def test_headers_are_normalised_for_the_synonyms():
    assert normalise(" Wochenende ") == "wochenende"
    assert normalise("Geöffnet") == "geoeffnet"
    assert normalise("StoreName") == "store_name"
    assert normalise("WEEK_END_DATE") == "week_end_date"


DUNNHUMBY = SHARED_DIR / "data" / "dunnhumby_breakfast_at_the_frat" / "transactions.csv.gz"
ROSSMANN = SHARED_DIR / "data" / "rossmann_store_sales" / "train.csv.gz"


@pytest.mark.skipif(not DUNNHUMBY.exists(), reason=f"real data not found at {DUNNHUMBY}")
def test_dunnhumby_as_suggested_loads_every_row():
    result, parsed = load_with_suggestion(DUNNHUMBY, name="dunnhumby")
    assert_all_rows_load(parsed, 1)
    assert parsed[0].rows_loaded == 524_950
    assert result["sources"]["dunnhumby"].sellout.week_ending_weekday == "wednesday"
    assert "# not mapped: VISITS, HHS" in result["text"]


@pytest.mark.skipif(not ROSSMANN.exists(), reason=f"real data not found at {ROSSMANN}")
def test_rossmann_as_suggested_loads_every_row():
    result, parsed = load_with_suggestion(ROSSMANN, name="rossmann")
    assert_all_rows_load(parsed, 1)
    assert parsed[0].rows_loaded == 1_017_209
    spec = result["sources"]["rossmann"].sellout
    assert (spec.frequency, spec.measure, spec.constants) == ("daily", "sales_value", {"product_code": "ALL"})
    assert parsed[0].rows["store_code"].nunique() == 1115
    assert int(parsed[0].rows["days_closed"].sum()) == 172_817
