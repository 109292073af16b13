"""A corpus of retailer files, most of them broken, through the real ingestion into a real database.

Three retailers are onboarded by config alone (a YAML entry each): a German CSV (semicolons, decimal commas,
day.month.year, Latin-1), a US CSV (UTF-8, ISO dates) and an XLSX workbook. For every file the test asserts what
was loaded, what was rejected and why, and that loaded plus rejected rows equal the rows in the file.
"""

from __future__ import annotations

import gzip
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import yaml
from support.databases import temporary_database

from sellout.config.sources import validate_sources
from sellout.datasets import RawFileLoadDataset
from sellout.datasets.run_config import code_maps
from sellout.ingest.landing import scan_sources
from sellout.pipelines.ingestion.nodes import parse_new_files, plan_ingestion, summarize_ingestion

RUN_STARTED = "2026-11-27T07:00:00+00:00"
WEEKS = pd.date_range("2026-09-05", periods=8, freq="7D")  # Saturdays before the run
STORES = [f"S{i}" for i in range(1, 6)]
PRODUCTS = [f"P{i}" for i in range(1, 10)]

SOURCES_YAML = """
sources:
  retailer_de:
    directory: {root}/retailer_de
    sellout:
      pattern: "abverkauf_*"
      csv: {{delimiter: ";", decimal: ",", encoding: latin-1}}
      date_format: "%d.%m.%Y"
      week_ending_weekday: saturday
      true_values: ["1"]
      returns_column: Retoure
      columns: {{week_end_date: Woche, store_code: Filiale, product_code: Artikel, units: Menge,
                 sales_value: Umsatz, price: Preis, feature: Prospekt}}
    product_codes:
      file: {root}/artikel_zu_ean.csv
      from_column: artikel
      to_column: ean
    stores:
      pattern: "filialen.csv"
      csv: {{delimiter: ";", encoding: latin-1}}
      columns: {{store_code: Filiale, store_name: Name}}
    products:
      pattern: "artikel.csv"
      csv: {{delimiter: ";", encoding: latin-1}}
      columns: {{product_code: Artikel, description: Bezeichnung}}
  retailer_us:
    directory: {root}/retailer_us
    delivery_window: {{max_future_days: 7, max_age_weeks: 52}}
    sellout:
      pattern: "pos_*"
      csv: {{delimiter: ",", encoding: utf-8}}
      date_format: "%Y-%m-%d"
      columns: {{week_end_date: week, store_code: store, product_code: upc, units: qty, price: price}}
  retailer_xl:
    directory: {root}/retailer_xl
    sellout:
      pattern: "*.xlsx"
      format: xlsx
      sheet: Sales
      date_format: "%d/%m/%Y"
      columns: {{week_end_date: Week, store_code: Store, product_code: Item, units: Cases, price: Price}}
      units_per_case: 6
"""


@dataclass
class Case:
    source: str
    name: str
    rows: int  # data rows in the file
    loaded: int
    status: str = "loaded"
    reasons: tuple[str, ...] = ()  # expected rejected-row reasons (substring each), or the quarantine reason


CASES: list[Case] = []


def _german_rows(week_index: int, n: int = 10, units=None) -> list[list[str]]:
    rows = []
    for i in range(n):
        week = WEEKS[week_index]
        rows.append(
            [
                week.strftime("%d.%m.%Y"),
                STORES[i % 5],
                f"A{(i // 5) + 1 + week_index}",
                str(units[i]) if units else str(i + 1),
                f"{(i + 1) * 1.5:.2f}".replace(".", ","),
                "1,50",
                "1" if i % 3 == 0 else "0",
                "0",
            ]
        )
    return rows


GERMAN_HEADER = ["Woche", "Filiale", "Artikel", "Menge", "Umsatz", "Preis", "Prospekt", "Retoure"]


def _german(rows, header=GERMAN_HEADER, sep=";") -> str:
    return "\n".join(sep.join(r) for r in [header, *rows]) + "\n"


def _write_corpus(root: Path) -> None:
    de, us, xl = root / "retailer_de", root / "retailer_us", root / "retailer_xl"
    for folder in (de, us, xl):
        folder.mkdir(parents=True)
    (root / "artikel_zu_ean.csv").write_text(
        "artikel,ean\n" + "".join(f"A{i},P{i}\n" for i in range(1, 10)), encoding="utf-8"
    )
    (de / "filialen.csv").write_bytes(
        ("Filiale;Name\n" + "".join(f"{s};Filiale München {s}\n" for s in STORES)).encode("latin-1")
    )
    (de / "artikel.csv").write_bytes(
        ("Artikel;Bezeichnung\n" + "".join(f"A{i};Müsli {i}\n" for i in range(1, 10))).encode("latin-1")
    )

    def de_file(name, text, encoding="latin-1"):
        (de / name).write_bytes(text.encode(encoding) if isinstance(text, str) else text)

    de_file("abverkauf_01_good.csv", _german(_german_rows(0)))
    CASES.append(Case("retailer_de", "abverkauf_01_good.csv", 10, 10))

    rows = _german_rows(1)
    rows[3][3] = "drei"
    de_file("abverkauf_02_non_numeric.csv", _german(rows))
    CASES.append(
        Case(
            "retailer_de",
            "abverkauf_02_non_numeric.csv",
            10,
            9,
            reasons=("non-numeric units in column 'Menge'",),
        )
    )

    rows = _german_rows(2)
    rows[0][0] = "31.02.2026"
    de_file("abverkauf_03_bad_date.csv", _german(rows))
    CASES.append(
        Case(
            "retailer_de", "abverkauf_03_bad_date.csv", 10, 9, reasons=("unparseable date in column 'Woche'",)
        )
    )

    rows = _german_rows(3)
    rows[1][0] = (WEEKS[3] - pd.Timedelta(days=1)).strftime("%d.%m.%Y")
    de_file("abverkauf_04_wrong_weekday.csv", _german(rows))
    CASES.append(Case("retailer_de", "abverkauf_04_wrong_weekday.csv", 10, 9, reasons=("is not a saturday",)))

    rows = _german_rows(4)
    rows[2][0] = "02.01.2027"  # a Saturday five weeks after the run: outside the delivery window
    de_file("abverkauf_05_future_week.csv", _german(rows))
    CASES.append(
        Case("retailer_de", "abverkauf_05_future_week.csv", 10, 9, reasons=("after the delivery window",))
    )

    rows = _german_rows(5)
    rows[4][1] = "S99"
    de_file("abverkauf_06_unknown_store.csv", _german(rows))
    CASES.append(
        Case("retailer_de", "abverkauf_06_unknown_store.csv", 10, 9, reasons=("unknown store_code",))
    )

    rows = _german_rows(6)
    rows[5][2] = "A77"
    de_file("abverkauf_07_unmapped_product.csv", _german(rows))
    CASES.append(
        Case(
            "retailer_de",
            "abverkauf_07_unmapped_product.csv",
            10,
            9,
            reasons=("has no mapping to a company code",),
        )
    )

    rows = _german_rows(7)
    rows[9] = list(rows[0])
    de_file("abverkauf_08_duplicate_row.csv", _german(rows))
    CASES.append(
        Case("retailer_de", "abverkauf_08_duplicate_row.csv", 10, 9, reasons=("duplicate of line 2",))
    )

    rows = _german_rows(5, units=[5, -2, 3, -1, 4, 4, 4, 4, 4, 4])
    rows[3][7] = "1"  # the -1 row is marked as a return: it loads
    de_file("abverkauf_09_negative_units.csv", _german(rows))
    CASES.append(
        Case(
            "retailer_de",
            "abverkauf_09_negative_units.csv",
            10,
            9,
            reasons=("negative units on a row not marked",),
        )
    )

    de_file("abverkauf_10_mostly_bad.csv", _german(_german_rows(6, units=["x"] * 4 + [1] * 6)))
    CASES.append(
        Case("retailer_de", "abverkauf_10_mostly_bad.csv", 10, 0, "quarantined", ("4 of 10 rows rejected",))
    )

    de_file("abverkauf_11_header_only.csv", _german([]))
    CASES.append(
        Case("retailer_de", "abverkauf_11_header_only.csv", 0, 0, "quarantined", ("header but no data rows",))
    )

    de_file("abverkauf_12_empty.csv", "")
    CASES.append(Case("retailer_de", "abverkauf_12_empty.csv", 0, 0, "quarantined", ("file is empty",)))

    de_file(
        "abverkauf_13_missing_column.csv", _german([r[:3] for r in _german_rows(0)], header=GERMAN_HEADER[:3])
    )
    CASES.append(
        Case(
            "retailer_de",
            "abverkauf_13_missing_column.csv",
            0,
            0,
            "quarantined",
            ("required column(s) ['Menge'",),
        )
    )

    de_file("abverkauf_14_comma_separated.csv", _german(_german_rows(1), sep=","))
    CASES.append(
        Case("retailer_de", "abverkauf_14_comma_separated.csv", 0, 0, "quarantined", ("required column(s)",))
    )

    gz = gzip.compress(_german(_german_rows(3) * 1).encode("latin-1"))
    de_file("abverkauf_15_truncated.csv.gz", gz[: len(gz) // 2])
    CASES.append(
        Case("retailer_de", "abverkauf_15_truncated.csv.gz", 0, 0, "quarantined", ("damaged or truncated",))
    )

    rows = _german_rows(4, units=[7] * 10)
    de_file("abverkauf_16_good.csv.gz", gzip.compress(_german(rows).encode("latin-1")))
    CASES.append(Case("retailer_de", "abverkauf_16_good.csv.gz", 10, 10))

    (de / "abverkauf_17_same_as_01_renamed.csv").write_bytes((de / "abverkauf_01_good.csv").read_bytes())
    CASES.append(
        Case(
            "retailer_de",
            "abverkauf_17_same_as_01_renamed.csv",
            0,
            0,
            "duplicate",
            ("same content as abverkauf_01_good.csv",),
        )
    )

    de_file("abverkauf_18_binary.csv", bytes(range(256)) * 4)
    CASES.append(
        Case(
            "retailer_de",
            "abverkauf_18_binary.csv",
            0,
            0,
            "quarantined",
            ("file cannot be parsed: Error tokenizing data",),
        )
    )

    header = "week,store,upc,qty,price,comment,extra"
    body = "".join(
        f'{WEEKS[i % 8].date()},U{i % 3},{1000 + i},{i + 1},2.50,"note, with comma",x\n' for i in range(10)
    )
    (us / "pos_01_bom_extra_columns.csv").write_bytes(
        b"\xef\xbb\xbf" + (header + "\n" + body).encode("utf-8")
    )
    CASES.append(Case("retailer_us", "pos_01_bom_extra_columns.csv", 10, 10))

    body = "".join(f"{WEEKS[i % 8].date()},Zürich {i},{2000 + i},{i + 1},2.50\n" for i in range(10))
    (us / "pos_02_latin1_in_utf8.csv").write_bytes(("week,store,upc,qty,price\n" + body).encode("latin-1"))
    CASES.append(Case("retailer_us", "pos_02_latin1_in_utf8.csv", 0, 0, "quarantined", ("not valid utf-8",)))

    body = "".join(
        f"{(WEEKS[0] - pd.Timedelta(weeks=60 + i)).date()},U9,{3000 + i},1,2.50\n" for i in range(2)
    )
    body += "".join(f"{WEEKS[i % 8].date()},U8,{3100 + i},1,2.50\n" for i in range(18))
    (us / "pos_03_too_old.csv").write_text("week,store,upc,qty,price\n" + body, encoding="utf-8")
    CASES.append(
        Case("retailer_us", "pos_03_too_old.csv", 20, 18, reasons=("before the delivery window",) * 2)
    )

    body = "".join(f'{WEEKS[i % 8].date()},"U\n{i}",{4000 + i},1,2.50\n' for i in range(10))
    (us / "pos_04_quoted_newlines.csv").write_text("week,store,upc,qty,price\n" + body, encoding="utf-8")
    CASES.append(Case("retailer_us", "pos_04_quoted_newlines.csv", 10, 10))

    sheet = pd.DataFrame(
        {
            "Week": [WEEKS[i % 8].strftime("%d/%m/%Y") for i in range(10)],
            "Store": [f"X{i % 2}" for i in range(10)],
            "Item": [f"I{i}" for i in range(10)],
            "Cases": [2] * 9 + ["two"],
            "Price": [9.99] * 10,
        }
    )
    with pd.ExcelWriter(xl / "week_sales.xlsx") as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="Cover", index=False)
        sheet.to_excel(writer, sheet_name="Sales", index=False)
    CASES.append(
        Case("retailer_xl", "week_sales.xlsx", 10, 9, reasons=("non-numeric units in column 'Cases'",))
    )

    with pd.ExcelWriter(xl / "wrong_sheet.xlsx") as writer:
        sheet.to_excel(writer, sheet_name="Verkauf", index=False)
    CASES.append(
        Case("retailer_xl", "wrong_sheet.xlsx", 0, 0, "quarantined", ("Worksheet named 'Sales' not found",))
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, pg_server):
    root = tmp_path_factory.mktemp("corpus")
    CASES.clear()
    _write_corpus(root)
    originals = {(c.source, c.name): (root / c.source / c.name).read_bytes() for c in CASES}
    with temporary_database(pg_server["url"]) as url:
        yield _ingest_corpus(root, url, originals)


def _ingest_corpus(root: Path, url: str, originals: dict) -> dict:
    sources = validate_sources(yaml.safe_load(SOURCES_YAML.format(root=root)), root)
    dataset = RawFileLoadDataset(quarantine_dir=str(root / "quarantine"), credentials={"url": url})
    codes = RawFileLoadDataset(
        quarantine_dir=str(root / "quarantine"), credentials={"url": url}, read="master_codes"
    )
    context = {"run_id": "corpus", "mode": "incremental", "started_at": RUN_STARTED}
    plan = plan_ingestion(scan_sources(sources), dataset.load(), context)
    for parsed in parse_new_files(
        plan, sources, codes.load(), code_maps(sources), context, {"max_rejected_share": 0.15}
    ):
        dataset.save(parsed)
    status = summarize_ingestion(dataset.load(), context)
    with psycopg.connect(url) as conn:
        manifest = pd.DataFrame(
            conn.execute(
                "select source, file_name, status, reason, rows_in_file, rows_loaded, rows_rejected, file_id "
                "from ops.ingested_files"
            ).fetchall(),
            columns=[
                "source",
                "file_name",
                "status",
                "reason",
                "rows_in_file",
                "rows_loaded",
                "rows_rejected",
                "file_id",
            ],
        )
        loaded = pd.DataFrame(
            conn.execute("select file_id, count(*) from raw.sellout_lines group by 1").fetchall(),
            columns=["file_id", "n"],
        )
        rejected = pd.DataFrame(
            conn.execute("select file_name, line_no, reason from raw.rejected_rows").fetchall(),
            columns=["file_name", "line_no", "reason"],
        )
        units = dict(
            conn.execute(
                "select product_code, sum(units) from raw.sellout_lines where source = 'retailer_xl' group by 1"
            ).fetchall()
        )
    return {
        "root": root,
        "manifest": manifest,
        "loaded": dict(zip(loaded["file_id"], loaded["n"], strict=True)),
        "rejected": rejected,
        "status": status,
        "originals": originals,
        "xl_units": units,
    }


def test_the_corpus_has_at_least_twenty_broken_or_odd_files():
    CASES.clear()

    _write_corpus(Path(tempfile.mkdtemp()))
    broken = [c for c in CASES if c.status != "loaded" or c.reasons]
    assert len(broken) >= 20


def _case_ids():

    CASES.clear()
    _write_corpus(Path(tempfile.mkdtemp()))
    cases = list(CASES)
    CASES.clear()
    return cases


@pytest.mark.parametrize("case", _case_ids(), ids=lambda c: c.name)
def test_each_file_is_loaded_rejected_or_quarantined_as_it_should(corpus, case):
    row = corpus["manifest"].set_index("file_name").loc[case.name]
    assert row["status"] == case.status, row["reason"]
    loaded_rows = corpus["loaded"].get(row["file_id"], 0)
    rejected = corpus["rejected"][corpus["rejected"]["file_name"] == case.name]
    assert loaded_rows == case.loaded == row["rows_loaded"]
    if case.status == "loaded":
        assert row["rows_in_file"] == case.rows
        assert loaded_rows + len(rejected) == row["rows_in_file"]
        assert row["rows_rejected"] == len(rejected)
        for expected in case.reasons:
            assert rejected["reason"].str.contains(expected, regex=False).any(), rejected["reason"].tolist()
        assert len(rejected) == len(case.reasons)
    else:
        assert loaded_rows == 0
        assert row["rows_loaded"] + row["rows_rejected"] == row["rows_in_file"]
        for expected in case.reasons:
            assert expected in (row["reason"] or "")


def test_quarantined_files_are_moved_unchanged_beside_their_reason(corpus):
    manifest = corpus["manifest"]
    for name in manifest.loc[manifest["status"] == "quarantined", "file_name"]:
        source = manifest.set_index("file_name").loc[name, "source"]
        kept = corpus["root"] / "quarantine" / source / name
        assert kept.read_bytes() == corpus["originals"][(source, name)]
        assert not (corpus["root"] / source / name).exists()
        reason = (kept.parent / f"{name}.reason.txt").read_text()
        assert manifest.set_index("file_name").loc[name, "reason"] in reason


def test_units_per_case_and_master_data(corpus):
    assert corpus["xl_units"]["I0"] == 12.0  # 2 cases of 6
    status = corpus["status"]
    assert status["files_duplicate"] == 1
    assert status["files_quarantined"] == sum(1 for c in _case_ids() if c.status == "quarantined")
