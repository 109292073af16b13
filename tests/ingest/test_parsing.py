import gzip
from pathlib import Path

import pandas as pd
import pytest

from sellout.config.sources import SelloutFileSpec
from sellout.ingest.landing import LandingFile, file_sha256
from sellout.ingest.parsing import parse_sellout
from sellout.ingest.reading import StructuralError, read_text_table

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
    assert reasons[3] == "non-numeric units in column 'Menge'"
    assert reasons[4] == "unparseable date in column 'Woche'"
    assert reasons[5] == "week ending date is not a saturday"
    assert reasons[6] == "empty store_code in column 'Filiale'"
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
        read_text_table(path, GERMAN)


def test_wrong_encoding_is_structural(tmp_path):
    spec = GERMAN.model_copy(update={"csv": GERMAN.csv.model_copy(update={"encoding": "utf-8"})})
    landing = _write(tmp_path, HEADER + "07.01.2023;Bü;4001;3;5,97;1,99;1\n", encoding="latin-1")
    with pytest.raises(StructuralError, match="not valid utf-8"):
        read_text_table(landing.path, spec)


def test_gzip_files_and_truncated_gzip(tmp_path):
    body = (HEADER + "07.01.2023;B101;4001;3;5,97;1,99;1\n" * 2000).encode("latin-1")
    good_path = tmp_path / "ok.csv.gz"
    good_path.write_bytes(gzip.compress(body))
    assert len(read_text_table(good_path, GERMAN)) == 2000
    cut_path = tmp_path / "cut.csv.gz"
    cut_path.write_bytes(gzip.compress(body)[:200])
    with pytest.raises(StructuralError, match="damaged or truncated"):
        read_text_table(cut_path, GERMAN)
