import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sellout.config.sources import SelloutFileSpec
from sellout.ingest import parsing
from sellout.ingest.landing import LandingFile, file_sha256
from sellout.ingest.parsing import parse_sellout
from sellout.ingest.reading import StructuralError, read_text_table
from sellout.ingest.rejections import RuleFailed
from sellout.ingest.row_checks import RowRules

COLUMNS = {
    "week_end_date": "Woche",
    "store_code": "Filiale",
    "product_code": "Artikel",
    "units": "Menge",
    "sales_value": "Umsatz",
    "price": "Preis",
    "feature": "Prospekt",
}
GERMAN = SelloutFileSpec(
    pattern="*.csv",
    csv={"delimiter": ";", "decimal": ",", "encoding": "latin-1"},
    date_format="%d.%m.%Y",
    week_ending_weekday="saturday",
    true_values=["1"],
    units_per_case=1,
    columns=COLUMNS,
)


def _landing(path: Path) -> LandingFile:
    return LandingFile("grocer_b", "sellout", path, path.stat().st_size, file_sha256(path))


def _write(tmp_path: Path, text: str, name="f.csv", encoding="latin-1") -> LandingFile:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return _landing(path)


HEADER = "Woche;Filiale;Artikel;Menge;Umsatz;Preis;Prospekt\n"


def test_semicolon_decimal_comma_day_month_year(tmp_path):
    landing = _write(
        tmp_path, HEADER + "07.01.2023;B101;4001;3;5,97;1,99;1\n07.01.2023;Bü2;4002;2;3,00;1,50;0\n"
    )
    good, rejected = parse_sellout(read_text_table(landing.path, GERMAN), GERMAN)
    assert rejected.empty
    assert good["week_end_date"].tolist() == [pd.Timestamp("2023-01-07")] * 2
    assert good["sales_value"].tolist() == [5.97, 3.0]
    assert good["price"].tolist() == [1.99, 1.5]
    assert good["feature"].tolist() == [True, False]
    assert good["store_code"].tolist() == ["B101", "Bü2"]
    assert good["line_no"].tolist() == [2, 3]


def test_bad_rows_are_rejected_with_line_and_reason(tmp_path):
    landing = _write(
        tmp_path,
        HEADER
        + "07.01.2023;B101;4001;3;5,97;1,99;1\n"
        + "07.01.2023;B101;4002;drei;5,97;1,99;0\n"
        + "32.01.2023;B101;4003;3;5,97;1,99;0\n"
        + "08.01.2023;B101;4004;3;5,97;1,99;0\n"
        + "07.01.2023;;4005;3;5,97;1,99;0\n",
    )
    good, rejected = parse_sellout(read_text_table(landing.path, GERMAN), GERMAN)
    assert good["product_code"].tolist() == ["4001"]
    reasons = dict(zip(rejected["line_no"], rejected["reason"], strict=True))
    assert reasons[3] == "line 3, column 'Menge': 'drei' is not a number"
    assert reasons[4] == "line 4, column 'Woche': '32.01.2023' is not a date in the format %d.%m.%Y"
    assert reasons[5] == (
        "line 5, column 'Woche': 2023-01-08 is a Sunday, but this source's weeks end on a Saturday "
        "(week_ending_weekday)"
    )
    assert reasons[6] == "line 6, column 'Filiale': empty store code"
    assert len(good) + len(rejected) == 5


def test_units_per_case_converts_cases_to_units(tmp_path):
    spec = GERMAN.model_copy(update={"units_per_case": 12.0})
    landing = _write(tmp_path, HEADER + "07.01.2023;B101;4001;2;5,97;1,99;1\n")
    good, _ = parse_sellout(read_text_table(landing.path, spec), spec)
    assert good["units"].tolist() == [24.0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty"),
        (HEADER.encode(), "header but no data rows"),
        (b"Woche;Filiale\n07.01.2023;B101\n", "required column(s)"),
    ],
)
def test_structural_problems_raise(tmp_path, content, reason):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(StructuralError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_sellout(read_text_table(path, GERMAN), GERMAN)


def test_wrong_encoding_is_structural(tmp_path):
    spec = GERMAN.model_copy(update={"csv": GERMAN.csv.model_copy(update={"encoding": "utf-8"})})
    landing = _write(tmp_path, HEADER + "07.01.2023;Bü;4001;3;5,97;1,99;1\n", encoding="latin-1")
    with pytest.raises(StructuralError, match="not valid utf-8"):
        read_text_table(landing.path, spec)


def test_gzip_files_and_truncated_gzip(tmp_path):
    body = (HEADER + "07.01.2023;B101;4001;3;5,97;1,99;1\n" * 2000).encode("latin-1")
    good_path = tmp_path / "ok.csv.gz"
    good_path.write_bytes(gzip.compress(body))
    assert read_text_table(good_path, GERMAN).rows_in_file == 2000
    cut_path = tmp_path / "cut.csv.gz"
    cut_path.write_bytes(gzip.compress(body)[:200])
    with pytest.raises(StructuralError, match="damaged or truncated"):
        read_text_table(cut_path, GERMAN)


def _parse(tmp_path, text: str, spec=GERMAN, rules=None):
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode("latin-1"))
    return parse_sellout(read_text_table(path, spec), spec, rules or RowRules())


def test_exact_duplicates_keep_one_row_and_conflicts_reject_all_naming_the_columns(tmp_path):
    result = _parse(
        tmp_path,
        HEADER
        + "07.01.2023;B1;4001;3;5,97;1,99;1\n"
        + "07.01.2023;B1;4001;3;5,97;1,99;1\n"  # the same again: one loads
        + "07.01.2023;B2;4001;3;5,97;1,99;1\n"
        + "07.01.2023;B2;4001;4;5,97;1,89;1\n",  # same key, other units and price: neither loads
    )
    assert result.rows[["store_code", "line_no"]].values.tolist() == [["B1", 2]]
    reasons = dict(zip(result.rejected["line_no"], result.rejected["reason"], strict=True))
    assert reasons[3] == "line 3: exact duplicate of line 2 (that line loads)"
    assert reasons[4] == (
        "line 4: same store, product and week as line 5 with different values ('Menge' 3 vs 4; 'Preis' 1.99 vs "
        "1.89): none of them loads"
    )
    assert reasons[5].startswith("line 5: same store, product and week as line 4")


def test_missing_value_marks_are_per_source(tmp_path):
    body = HEADER + "07.01.2023;B1;4001;3;5,97;-;1\n" + "07.01.2023;B2;4001;3;5,97;NULL;1\n"
    good, rejected = _parse(tmp_path, body)
    assert rejected["reason"].tolist() == ["line 2, column 'Preis': '-' is not a number"]
    assert good["price"].isna().all()
    spec = GERMAN.model_copy(update={"na_values": ["", "-"]})
    good, rejected = _parse(tmp_path, body, spec)
    # the source's own list replaces the default one: here NULL is a value, and not a number
    assert rejected["reason"].tolist() == ["line 3, column 'Preis': 'NULL' is not a number"]


def test_raw_values_keep_the_files_text_by_column(tmp_path):
    _, rejected = _parse(tmp_path, HEADER + "07.01.2023;B1;4001;5;5,00;x;1\n")
    assert json.loads(rejected["raw_values"][0]) == {
        "Woche": "07.01.2023",
        "Filiale": "B1",
        "Artikel": "4001",
        "Menge": "5",
        "Umsatz": "5,00",
        "Preis": "x",
        "Prospekt": "1",
    }


def test_thousands_marks_and_negative_prices(tmp_path):
    spec = GERMAN.model_copy(update={"csv": GERMAN.csv.model_copy(update={"thousands": "."})})
    good, rejected = _parse(
        tmp_path,
        HEADER + "07.01.2023;B1;4001;1.234;5.678,50;1,99;1\n07.01.2023;B2;4001;3;5,97;-1,99;1\n",
        spec,
    )
    assert good[["units", "sales_value"]].values.tolist() == [[1234.0, 5678.5]]
    assert rejected["reason"].tolist() == ["line 3, column 'Preis': negative price (-1.99)"]


def test_a_value_only_feed_and_a_constant_product(tmp_path):
    spec = SelloutFileSpec(
        pattern="*",
        csv={"delimiter": ";", "decimal": ","},
        date_format="%d.%m.%Y",
        columns={"week_end_date": "Woche", "store_code": "Filiale", "sales_value": "Umsatz"},
        constants={"product_code": "ALL"},
    )
    good, rejected = _parse(tmp_path, "Woche;Filiale;Umsatz\n07.01.2023;B1;10,50\n07.01.2023;B2;\n", spec)
    assert good[["product_code", "sales_value", "measure"]].values.tolist() == [["ALL", 10.5, "sales_value"]]
    assert good["units"].isna().all() and good["price"].isna().all()
    assert rejected["reason"].tolist() == [
        "line 3, column 'Umsatz': no sales value (the measure of this feed)"
    ]


def test_price_is_derived_from_sales_value_over_units_unless_switched_off(tmp_path):
    columns = {k: v for k, v in COLUMNS.items() if k != "price"}
    body = "Woche;Filiale;Artikel;Menge;Umsatz;Prospekt\n07.01.2023;B1;4001;4;10,00;1\n07.01.2023;B2;4001;0;0;1\n"
    spec = GERMAN.model_copy(update={"columns": columns})
    good, _ = _parse(tmp_path, body, spec)
    assert good["price"].iloc[0] == 2.5 and np.isnan(good["price"].iloc[1])  # no price for 0 units
    good, _ = _parse(tmp_path, body, spec.model_copy(update={"derive_price": False}))
    assert good["price"].isna().all()


DAILY = SelloutFileSpec(
    pattern="*",
    csv={"delimiter": ";"},
    frequency="daily",
    week_ending_weekday="sunday",
    true_values=["1"],
    columns={
        "date": "Tag",
        "store_code": "Markt",
        "product_code": "Artikel",
        "units": "Menge",
        "price": "Preis",
        "open": "Offen",
        "display": "Display",
    },
)


def test_daily_rows_are_summed_into_the_retailers_weeks(tmp_path):
    header = "Tag;Markt;Artikel;Menge;Preis;Offen;Display\n"
    days = [
        f"2026-09-{d:02d};M1;A1;{d - 6};{1.0 if d != 9 else 2.0};1;{1 if d == 8 else 0}\n"
        for d in range(7, 13)
    ]
    days.append("2026-09-13;M1;A1;0;;0;0\n")  # closed on Sunday
    days.append("2026-09-14;M1;A1;5;1.5;1;0\n")  # the next week has one day so far
    good, rejected = _parse(tmp_path, header + "".join(days), DAILY)
    assert rejected.empty
    week = good.set_index(good["week_end_date"].astype(str))
    assert week.loc["2026-09-13", ["units", "days_reported", "days_closed", "is_complete_week"]].tolist() == [
        21.0,
        7,
        1,
        True,
    ]
    # the price of the open days, weighted by their units: (1*1 + 2*1 + 3*2 + 4*1 + 5*1 + 6*1) / 21
    assert week.loc["2026-09-13", "price"] == pytest.approx(24 / 21)
    assert week.loc["2026-09-13", "display"] and not week.loc["2026-09-20", "display"]
    assert week.loc["2026-09-20", ["units", "days_reported", "is_complete_week"]].tolist() == [5.0, 1, False]
    assert week["line_no"].tolist() == [2, 9]


def test_a_daily_feed_that_lists_only_what_sold_has_complete_weeks(tmp_path):
    # A1 sold Monday to Wednesday, A2 Thursday to Sunday: the store reported every day of the week
    header = "Tag;Markt;Artikel;Menge;Preis;Offen;Display\n"
    a1 = [f"2026-09-{d:02d};M1;A1;2;1.0;1;0\n" for d in (7, 8, 9)]
    a2 = [f"2026-09-{d:02d};M1;A2;3;1.0;1;0\n" for d in (10, 11, 12, 13)]
    partial = ["2026-09-14;M1;A1;5;1.5;1;0\n", "2026-09-15;M1;A2;1;1.5;1;0\n"]  # the file ends on Tuesday
    other_store = [f"2026-09-{d:02d};M2;A1;1;1.0;1;0\n" for d in (7, 8, 9)]  # M2's lines stop on Wednesday
    good, rejected = _parse(tmp_path, header + "".join(a1 + a2 + partial + other_store), DAILY)
    assert rejected.empty
    m2 = good[good["store_code"] == "M2"]
    assert m2["days_reported"].tolist() == [3] and not m2["is_complete_week"].any()
    good = good[good["store_code"] == "M1"]
    weeks = good.set_index(["product_code", good["week_end_date"].astype(str)])
    assert weeks.loc[("A1", "2026-09-13"), ["units", "days_reported", "is_complete_week"]].tolist() == [
        6.0,
        3,
        True,
    ]
    assert weeks.loc[("A2", "2026-09-13"), ["units", "days_reported", "is_complete_week"]].tolist() == [
        12.0,
        4,
        True,
    ]
    assert not weeks.loc[("A1", "2026-09-20"), "is_complete_week"]
    assert not weeks.loc[("A2", "2026-09-20"), "is_complete_week"]


def test_a_daily_feed_rejects_the_same_day_twice_with_other_values(tmp_path):
    header = "Tag;Markt;Artikel;Menge;Preis;Offen;Display\n"
    good, rejected = _parse(
        tmp_path,
        header + "2026-09-07;M1;A1;1;1;1;0\n2026-09-07;M1;A1;2;1;1;0\n2026-09-08;M1;A1;2;1;1;0\n",
        DAILY,
    )
    assert "same store, product and day as line 3" in rejected["reason"][0]
    assert good["days_reported"].tolist() == [1]


def test_an_exception_inside_a_rule_names_the_rule(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(parsing, "check_weekday", broken)
    with pytest.raises(RuleFailed, match="rule 'week ending weekday' failed on this file"):
        _parse(tmp_path, HEADER + "07.01.2023;B1;4001;3;5,97;1,99;1\n")
