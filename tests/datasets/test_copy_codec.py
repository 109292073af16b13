"""COPY CSV to a frame: the same frame whether the text arrives whole or in blocks cut anywhere."""

import pandas as pd
import pytest

from sellout.datasets.copy_codec import _coalesced, csv_to_frame

COLUMNS = [("week_end_date", "date"), ("store_code", "text"), ("units", "float8"), ("feature", "bool")]
TEXT = (
    '2024-01-07,"S1",3.5,t\n'
    '2024-01-14,"Zürich ""Nord""",,f\n'
    '2024-01-21,"multi\nline",0,\n'
    '2024-01-28,"",-1.25,t\n'
).encode()


def test_whole_text_parses_each_column_as_its_database_type():
    frame = csv_to_frame(TEXT, COLUMNS)
    assert frame["store_code"].tolist()[:2] == ["S1", 'Zürich "Nord"']
    assert frame["store_code"].iloc[2] == "multi\nline" and frame["store_code"].iloc[3] == ""
    assert frame["units"].isna().tolist() == [False, True, False, False]
    assert str(frame["feature"].dtype) == "boolean" and frame["feature"].isna().sum() == 1
    assert frame["week_end_date"].dtype == "datetime64[ns]"


@pytest.mark.parametrize("size", [1, 2, 7, 64])
def test_blocks_cut_anywhere_give_the_same_frame(size):
    blocks = [memoryview(TEXT[i : i + size]) for i in range(0, len(TEXT), size)]
    pd.testing.assert_frame_equal(csv_to_frame(iter(blocks), COLUMNS), csv_to_frame(TEXT, COLUMNS))


def test_no_text_is_an_empty_frame_of_the_columns_types():
    frame = csv_to_frame(iter([b"", b""]), COLUMNS)
    assert frame.empty and list(frame.columns) == [name for name, _ in COLUMNS]
    assert frame["units"].dtype == "float64"


def test_row_blocks_are_joined_into_pieces_of_the_size_asked():
    rows = TEXT.splitlines(keepends=True)
    pieces = list(_coalesced(iter(rows), size=40))
    assert b"".join(pieces) == TEXT
    assert len(pieces) > 1 and all(len(piece) >= 40 for piece in pieces[:-1])
