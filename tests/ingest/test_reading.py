"""Reading a file as text: line numbers, rows that do not fit the header, encodings, compression, workbooks."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile

import openpyxl
import pytest

from sellout.config.sources import FileSpec
from sellout.ingest.reading import StructuralError, read_text_table

SPEC = FileSpec(pattern="*", columns={})


def _spec(**csv) -> FileSpec:
    return SPEC.model_copy(update={"csv": SPEC.csv.model_copy(update=csv)})


def _read(tmp_path, data: bytes, spec: FileSpec = SPEC, name: str = "f.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return read_text_table(path, spec)


def test_rows_keep_their_text_and_physical_line(tmp_path):
    data = b'a,b,c\r\n1, 2 ,3\n\n"x\ny",1,2\r4,5,6\n'
    text = _read(tmp_path, data)
    assert text.columns == ["a", "b", "c"]
    assert [list(row.values()) for row in text.table.to_pylist()] == [
        ["1", " 2 ", "3"],
        ["x\ny", "1", "2"],
        ["4", "5", "6"],
    ]
    # a blank line is no row, a quoted line break is inside one, a lone \r ends a line
    assert text.lines().tolist() == [2, 4, 6]


def test_rows_with_another_field_count_are_set_aside_with_their_line(tmp_path):
    text = _read(tmp_path, b"a;b;c\n1;2;3\n4;5\n\n6;7;8;9\n10;11;12\n", _spec(delimiter=";"))
    assert text.num_rows == 2 and text.rows_in_file == 4
    assert [(bad.line, bad.fields, bad.text) for bad in text.bad_rows] == [(3, 2, "4;5"), (5, 4, "6;7;8;9")]
    assert text.lines().tolist() == [2, 6]
    assert text.bad_row_texts() == [
        {"a": "4", "b": "5"},
        {"a": "6", "b": "7", "c": "8", "(extra field 4)": "9"},
    ]


def test_lines_above_the_header_are_skipped(tmp_path):
    text = _read(tmp_path, b"Report week 38\n\nweek,store\n2026-09-19,S1\n", _spec(header_row=2))
    assert text.columns == ["week", "store"] and text.lines().tolist() == [4]


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("f.csv.gz", gzip.compress),
        ("f.csv.bz2", bz2.compress),
        ("f.csv.xz", lzma.compress),
        ("f.dat", gzip.compress),  # by the magic bytes, whatever the name says
    ],
)
def test_compressed_files_are_read_by_their_magic_bytes(tmp_path, name, compress):
    assert _read(tmp_path, compress(b"a,b\n1,2\n"), name=name).table.to_pylist() == [{"c0": "1", "c1": "2"}]


def test_a_zip_with_one_file_is_read_and_one_with_two_is_refused(tmp_path):
    for members in (1, 2):
        path = tmp_path / f"z{members}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for i in range(members):
                archive.writestr(f"part{i}.csv", "a,b\n1,2\n")
        if members == 1:
            assert read_text_table(path, SPEC).num_rows == 1
        else:
            with pytest.raises(StructuralError, match="a zip archive must hold one file, this one holds 2"):
                read_text_table(path, SPEC)


def test_a_truncated_archive_is_structural(tmp_path):
    with pytest.raises(StructuralError, match="damaged or truncated"):
        body = b"a,b\n" + b"".join(f"{i},{i * 7}\n".encode() for i in range(5000))
        _read(tmp_path, gzip.compress(body)[:2000], name="f.csv.gz")


def test_encodings(tmp_path):
    assert _read(tmp_path, "a\tb\nZü\t1\n".encode("utf-16"), _spec(delimiter="\t", encoding="utf-16")).column(
        "a"
    ).to_pylist() == ["Zü"]
    assert _read(tmp_path, "a,b\nZü,1\n".encode("cp1252"), _spec(encoding="cp1252")).column(
        "a"
    ).to_pylist() == ["Zü"]
    assert _read(tmp_path, b"\xef\xbb\xbfa,b\n1,2\n").columns == ["a", "b"]  # a byte order mark is no name
    with pytest.raises(StructuralError, match=r"line 3, byte 3: not valid utf-8 text .* set csv.encoding"):
        _read(tmp_path, "a,b\n1,2\nZ,ü\n".encode("latin-1"))
    with pytest.raises(StructuralError, match="the file is UTF-16 .*set csv.encoding: utf-16"):
        _read(tmp_path, "a,b\n1,2\n".encode("utf-16"))


def test_a_binary_file_is_refused(tmp_path):
    with pytest.raises(StructuralError, match="not a text file"):
        _read(tmp_path, bytes(range(256)) * 8)


def test_empty_files_and_files_without_rows(tmp_path):
    with pytest.raises(StructuralError, match="file is empty"):
        _read(tmp_path, b"")
    with pytest.raises(StructuralError, match="header but no data rows"):
        _read(tmp_path, b"a,b\n")


def test_a_workbook_with_rows_above_its_header_and_blank_rows(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sales"
    sheet.append(["Weekly sales"])
    sheet.merge_cells("A1:C1")
    sheet.append(["Week", "Store", "Units"])
    sheet.append(["2026-09-19", "S1", 3])
    sheet.append([None, None, None])
    sheet.append(["2026-09-19", "S2", 4.5])
    workbook.save(tmp_path / "w.xlsx")
    spec = SPEC.model_copy(
        update={"format": "xlsx", "sheet": "Sales", "csv": SPEC.csv.model_copy(update={"header_row": 1})}
    )
    text = read_text_table(tmp_path / "w.xlsx", spec)
    assert text.columns == ["Week", "Store", "Units"]
    assert text.column("Units").to_pylist() == ["3", "4.5"]
    assert text.lines().tolist() == [3, 5]  # the sheet's row numbers
