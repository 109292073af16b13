"""Bulk loads: binary or CSV by what the frame holds, and the encoder thread that runs one chunk ahead."""

from __future__ import annotations

import logging
import threading

import pandas as pd
import psycopg
import pytest
from support.copy_log import COPY_LOGGER, copy_formats

from sellout.datasets.copy_in import column_types, copy_frame, one_ahead


def test_one_ahead_yields_every_item_in_order_from_another_thread():
    producers = []

    def items():
        for number in range(5):
            producers.append(threading.current_thread().name)
            yield number

    assert list(one_ahead(items())) == [0, 1, 2, 3, 4]
    assert all(name.startswith("copy-encoder") for name in producers)


def test_one_ahead_raises_the_producers_error_after_the_items_before_it():
    def items():
        yield 1
        raise ValueError("row 7 cannot be encoded")

    received = []
    with pytest.raises(ValueError, match="row 7"):
        for item in one_ahead(items()):
            received.append(item)
    assert received == [1]


def test_one_ahead_stops_producing_when_the_consumer_stops():
    produced = []

    def items():
        for number in range(100):
            produced.append(number)
            yield number

    for item in one_ahead(items()):
        if item == 2:
            break
    assert len(produced) <= 4  # the items taken and at most one ahead


def test_column_types_names_each_column_type(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("create table public.t (a numeric(18,4), b timestamptz, c character varying(5))")
        assert column_types(conn, '"public"."t"') == {"a": "numeric", "b": "timestamptz", "c": "varchar"}


@pytest.mark.parametrize(
    ("price", "copy_format"),
    [(pd.Series([1.25, None, 3.5]), "binary"), (pd.Series(["1.25", None, "3.50"], dtype="str"), "CSV")],
    ids=["binary", "csv"],
)
def test_copy_frame_loads_by_either_format_in_chunks(db_url, price, copy_format, caplog):
    caplog.set_level(logging.DEBUG, logger=COPY_LOGGER)
    frame = pd.DataFrame({"store": pd.array(["A", "B", None], dtype="str"), "price": price})
    with psycopg.connect(db_url) as conn:
        conn.execute("create table public.t (store text, price numeric(18,2))")
        copy_frame(conn, "public.t", frame, chunk_rows=2, binary_min_rows=0)
        rows = conn.execute("select store, price::text from public.t order by price nulls last").fetchall()
    assert rows == [("A", "1.25"), (None, "3.50"), ("B", None)]
    assert copy_formats(caplog) == [copy_format]


@pytest.mark.parametrize(
    ("amount", "copy_format"),
    [(pd.Series([1.5]), "binary"), (pd.Series(["1.5"], dtype="str"), "CSV")],
    ids=["binary", "csv"],
)
def test_zoned_timestamps_land_right_whatever_the_session_time_zone(db_url, amount, copy_format, caplog):
    caplog.set_level(logging.DEBUG, logger=COPY_LOGGER)
    frame = pd.DataFrame({"at": pd.to_datetime(["2024-03-01T12:00:00Z"]), "amount": amount})
    with psycopg.connect(db_url) as conn:
        conn.execute("set time zone 'America/New_York'")
        conn.execute("create table public.t (at timestamptz, amount numeric)")
        copy_frame(conn, "public.t", frame, binary_min_rows=0)
        stored = conn.execute(
            "select to_char(at at time zone 'UTC', 'YYYY-MM-DD HH24:MI') from public.t"
        ).fetchone()
        assert stored == ("2024-03-01 12:00",)
        assert conn.execute("show time zone").fetchone() == ("America/New_York",)
    assert copy_formats(caplog) == [copy_format]


def test_a_small_frame_goes_as_csv_and_a_large_one_as_binary(db_url, caplog):
    caplog.set_level(logging.DEBUG, logger=COPY_LOGGER)
    with psycopg.connect(db_url) as conn:
        conn.execute("create table public.t (units bigint)")
        copy_frame(conn, "public.t", pd.DataFrame({"units": range(10)}), binary_min_rows=11)
        copy_frame(conn, "public.t", pd.DataFrame({"units": range(11)}), binary_min_rows=11)
        assert conn.execute("select count(*), sum(units) from public.t").fetchone() == (21, 100)
    assert copy_formats(caplog) == ["CSV", "binary"]
