"""The binary COPY encoder: it takes a frame only when it can be exact, and then the server stores the same values
as it does from the CSV path's text."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sellout.datasets.copy_binary import _decimals, binary_plan, frame_to_binary_chunks
from sellout.datasets.copy_codec import arrow_chunks, table_to_csv
from sellout.datasets.copy_in import column_types

# ---- which frames take the binary path -----------------------------------------------------------------------


def test_sell_out_shaped_frame_takes_the_binary_path():
    frame = pd.DataFrame(
        {
            "week": pd.to_datetime(["2024-01-06"]),
            "store": pd.array(["S1"], dtype="str"),
            "units": [3],
            "price": [1.99],
            "promo": [True],
            "loaded_at": pd.to_datetime(["2024-01-06T10:00:00Z"]),
        }
    )
    types = {
        "week": "date",
        "store": "text",
        "units": "int8",
        "price": "numeric",
        "promo": "bool",
        "loaded_at": "timestamptz",
    }
    assert binary_plan(frame, types) is not None


@pytest.mark.parametrize(
    ("values", "target"),
    [
        (pd.Series(["1.50"], dtype="str"), "numeric"),  # text into numeric: the server parses it
        (pd.Series([1.5], dtype="float32"), "float8"),  # the CSV path sends float32's own shortest text
        (pd.Series([0.1], dtype="float32"), "numeric"),
        (pd.Series([2**63], dtype="uint64"), "numeric"),  # beyond int64
        (pd.Series([2**40]), "int4"),  # out of range: the server says so
        (pd.Series(["a", 1], dtype=object), "text"),  # mixed objects
        (pd.Series([1.5]), "int8"),
        (pd.Series(["{}"], dtype="str"), "jsonb"),  # a type the encoder does not know
        (pd.Series([1.5]), ""),  # a column the table does not have
    ],
)
def test_frames_it_cannot_write_exactly_take_the_csv_path(values, target):
    assert binary_plan(pd.DataFrame({"c": values}), {"c": target}) is None


# ---- floats into numeric: the shortest round-trip decimal --------------------------------------------------


def _python_shortest(value: float) -> Decimal:
    return Decimal(repr(value))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
@example(
    [0.1 + 0.2, 1e22, 1e-7, 1.5e-7, 123456789012345680000.0, -0.0, 5e-324, 1.7976931348623157e308, 2.5e-5]
)
@example([0.005, 1.005, 100.0, 1e15, 1e16, 9007199254740993.0, 2.0**51, -12.34])
def test_decimals_are_the_shortest_round_trip_text(values):
    integers, powers, special = _decimals(np.array(values, dtype=np.float64))
    arrow_text = pc.cast(pa.array(values, pa.float64()), pa.string()).to_pylist()
    for value, integer, power, text in zip(values, integers, powers, arrow_text, strict=True):
        shortest = _python_shortest(value)
        assert Decimal(int(integer)).scaleb(int(power)) == shortest == Decimal(text), value
        # the display scale the server takes from the text: its fraction digits
        assert max(0, -power) == max(0, -shortest.normalize().as_tuple().exponent), value
    assert not special.any()


def test_decimals_mark_infinities():
    _, _, special = _decimals(np.array([math.inf, -math.inf, 1.0]))
    assert special.tolist() == [0xD000, 0xF000, 0]


# ---- the server's view: binary and CSV store the same values -----------------------------------------------


def _load_both_ways(url: str, frame: pd.DataFrame, ddl: str) -> tuple[list, list]:
    """The rows as text after loading ``frame`` into two tables of ``ddl``: by binary COPY, then by CSV."""
    rows = []
    with psycopg.connect(url) as conn:
        conn.execute("set time zone 'UTC'")
        for table in ("by_binary", "by_csv"):
            conn.execute(f"create temp table {table} (n serial, {ddl})")
            types = column_types(conn, table)
            chunks = arrow_chunks(frame, 7, types)
            columns = ", ".join(frame.columns)
            if table == "by_binary":
                plan = binary_plan(frame, types)
                assert plan is not None
                options, blocks = "format binary", frame_to_binary_chunks(chunks, plan)
            else:
                options, blocks = "format csv", map(table_to_csv, chunks)
            with conn.cursor().copy(f"copy {table} ({columns}) from stdin with ({options})") as copy:
                for block in blocks:
                    copy.write(block)
            cast = ", ".join(f"{c}::text" for c in frame.columns)
            rows.append(conn.execute(f"select {cast} from {table} order by n").fetchall())
    return rows[0], rows[1]


floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda v: round(v, 2)),
    st.integers(-(10**6), 10**6).map(lambda v: v / 100),
    st.sampled_from(
        [0.1 + 0.2, 1e22, 1e-7, 1.5e-7, 1.00005, 0.00015, 2.5e-5, -0.0, 12.34, math.inf, -math.inf]
    ),
)
# each example loads two tables: fewer examples than a pure function gets
against_the_server = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@against_the_server
@given(st.lists(st.one_of(st.none(), floats), min_size=1, max_size=40))
def test_floats_into_numeric_match_the_csv_path(db_url, values):
    frame = pd.DataFrame(
        {"num": pd.Series(values, dtype="float64"), "dbl": pd.Series(values, dtype="float64")}
    )
    binary, csv = _load_both_ways(db_url, frame, "num numeric, dbl double precision")
    assert binary == csv


@against_the_server
@given(
    st.lists(
        st.one_of(
            st.none(), st.floats(min_value=-1e13, max_value=1e13, allow_nan=False, allow_infinity=False)
        ),
        min_size=1,
        max_size=40,
    )
)
def test_a_column_scale_rounds_as_it_does_for_text(db_url, values):
    frame = pd.DataFrame({"price": pd.Series(values, dtype="float64")})
    binary, csv = _load_both_ways(db_url, frame, "price numeric(18,4)")
    assert binary == csv


@against_the_server
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
            st.one_of(st.none(), st.integers(-(2**15), 2**15 - 1)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_integers_match_the_csv_path(db_url, rows):
    big, medium, small = zip(*rows, strict=True)
    frame = pd.DataFrame(
        {
            "big": pd.Series(big, dtype="Int64"),
            "as_numeric": pd.Series(big, dtype="Int64"),
            "medium": pd.Series(medium, dtype="Int64"),
            "small": pd.Series(small, dtype="Int64"),
            "as_double": pd.Series(big, dtype="Int64"),
        }
    )
    ddl = "big bigint, as_numeric numeric, medium integer, small smallint, as_double double precision"
    binary, csv = _load_both_ways(db_url, frame, ddl)
    assert binary == csv


text_values = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20)


@against_the_server
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), text_values),
            st.one_of(st.none(), st.booleans()),
            st.one_of(
                st.none(),
                st.datetimes(min_value=pd.Timestamp("1900-01-01"), max_value=pd.Timestamp("2200-01-01")),
            ),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_text_booleans_dates_and_timestamps_match_the_csv_path(db_url, rows):
    text, flags, moments = zip(*rows, strict=True)
    moments = pd.to_datetime(pd.Series(moments, dtype=object)).astype("datetime64[ns]")
    frame = pd.DataFrame(
        {
            "t": pd.Series(text, dtype="str"),
            "v": pd.Series(text, dtype="str"),
            "b": pd.Series(flags, dtype="boolean"),
            "d": moments,
            "ts": moments,
            "tz": moments.dt.tz_localize("UTC"),
            "naive_tz": moments,
        }
    )
    ddl = "t text, v varchar(40), b boolean, d date, ts timestamp, tz timestamptz, naive_tz timestamptz"
    binary, csv = _load_both_ways(db_url, frame, ddl)
    assert binary == csv
