"""The table dataset against a real PostgreSQL: exact round trips, write modes, atomicity, incremental reads."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal

import numpy as np
import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kedro.io import DatasetError
from support.copy_log import COPY_LOGGER, copy_formats

from sellout.datasets import PostgresTableDataset, copy_in
from sellout.integrations.db import UnsafeIdentifierError

COLUMNS = {"run_id": "text", "week": "date", "store_code": "text", "units": "numeric", "promo": "boolean"}


def _frame(run_id="r1", n=3):
    return pd.DataFrame(
        {
            "run_id": pd.array([run_id] * n, dtype="str"),
            "week": pd.to_datetime(["2024-01-06", "2024-01-13", "2024-01-20"][:n]).astype("datetime64[ns]"),
            "store_code": pd.array(["A1", "A2", "Bü3"][:n], dtype="str"),
            "units": [1.5, None, 3.0][:n],
            "promo": pd.array([True, False, True][:n], dtype="boolean"),
        }
    )


def _dataset(db_url, table="forecast.t", **kwargs):
    return PostgresTableDataset(table, credentials={"url": db_url}, columns=COLUMNS, **kwargs)


# ---- exact round trips --------------------------------------------------------------------------------------

ROUND_TRIP_COLUMNS = {
    "d": "date",
    "ts": "timestamptz",
    "num": "numeric",
    "dbl": "double precision",
    "i": "bigint",
    "b": "boolean",
    "t": "text",
}
text_values = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20)
rows = st.lists(
    st.tuples(
        st.one_of(
            st.none(),
            st.dates(
                min_value=pd.Timestamp("1900-01-01").date(), max_value=pd.Timestamp("2200-01-01").date()
            ),
        ),
        st.one_of(
            st.none(),
            st.datetimes(min_value=pd.Timestamp("1900-01-01"), max_value=pd.Timestamp("2200-01-01")),
        ),
        st.one_of(
            st.none(),
            st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-1e9, max_value=1e9),
        ),
        st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=True, width=64)),
        st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
        st.one_of(st.none(), st.booleans()),
        st.one_of(st.none(), text_values),
    ),
    min_size=1,
    max_size=25,
)


def _typed_frame(records) -> pd.DataFrame:
    d, ts, num, dbl, i, b, t = zip(*records, strict=True)
    return pd.DataFrame(
        {
            "d": pd.to_datetime(pd.Series(d, dtype=object)).astype("datetime64[ns]"),
            "ts": pd.to_datetime(pd.Series(ts, dtype=object))
            .dt.tz_localize("UTC")
            .astype("datetime64[ns, UTC]"),
            "num": pd.Series([None if v is None else str(v) for v in num], dtype="str"),
            "dbl": pd.Series(dbl, dtype="float64"),
            "i": pd.Series(i, dtype="Int64"),
            "b": pd.Series(b, dtype="boolean"),
            "t": pd.Series(t, dtype="str"),
        }
    )


@pytest.mark.parametrize("numeric_from", ["text", "float"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=rows)
def test_every_type_survives_a_round_trip_exactly(db_url, records, numeric_from, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, logger=COPY_LOGGER)
    frame = _typed_frame(records)
    if numeric_from == "float":  # every column then has an exact binary encoding: the save takes binary COPY
        monkeypatch.setattr(copy_in, "BINARY_MIN_ROWS", 0)
        frame["num"] = frame["num"].astype("float64")
    dataset = PostgresTableDataset(
        "rt.values",
        credentials={"url": db_url},
        columns=ROUND_TRIP_COLUMNS,
        save_args={"mode": "replace"},
        # numeric read as PostgreSQL's own text of the stored value, to compare it exactly
        load_args={"query": "select d, ts, num::text as num, dbl, i, b, t from rt.values"},
    )
    dataset.save(frame)
    assert copy_formats(caplog)[-1] == ("binary" if numeric_from == "float" else "CSV")
    loaded = dataset.load()
    expected = frame.copy()
    # numeric comes back in PostgreSQL's canonical text for the same value: a text keeps its scale, a float
    # is its shortest round-trip decimal
    canonical = (lambda v: str(Decimal(v))) if numeric_from == "text" else _shortest_decimal_text
    expected["num"] = pd.Series(
        [None if v is None or pd.isna(v) else canonical(v) for v in frame["num"]], dtype="str"
    )
    pd.testing.assert_frame_equal(loaded, expected, check_exact=True)


def _shortest_decimal_text(value: float) -> str:
    return "0" if value == 0 else format(Decimal(repr(value)).normalize(), "f")  # numeric has no -0


def test_numeric_loads_as_float_by_default(db_url):
    dataset = PostgresTableDataset("rt.n", credentials={"url": db_url}, columns={"x": "numeric(18,4)"})
    dataset.save(pd.DataFrame({"x": [0.1, 1234.5678, None]}))
    assert dataset.load()["x"].tolist()[:2] == [0.1, 1234.5678]


def test_text_that_looks_like_null_stays_text(db_url):
    frame = pd.DataFrame({"t": pd.Series(["", "\\N", None, "NULL", 'a,"b"\nc'], dtype="str")})
    dataset = PostgresTableDataset("rt.text", credentials={"url": db_url})
    dataset.save(frame)
    pd.testing.assert_frame_equal(dataset.load(), frame)


def test_nul_character_is_refused_with_column_and_row(db_url):
    dataset = PostgresTableDataset("rt.nul", credentials={"url": db_url})
    with pytest.raises(DatasetError, match=r"column 't', row 1: text contains a NUL"):
        dataset.save(pd.DataFrame({"t": ["ok", "bad\x00"]}))


# ---- write modes --------------------------------------------------------------------------------------------


@pytest.fixture(params=["binary", "csv"])
def copy_format(request, monkeypatch):
    """Small frames go as CSV; this runs a test once with every frame as binary COPY and once as CSV."""
    monkeypatch.setattr(copy_in, "BINARY_MIN_ROWS", 0 if request.param == "binary" else 10**12)
    return request.param


def test_replace_partition_is_idempotent(db_url, copy_format):
    dataset = _dataset(db_url, save_args={"mode": "replace_partition", "partition_columns": ["run_id"]})
    dataset.save(_frame("r1"))
    dataset.save(_frame("r2", 2))
    dataset.save(_frame("r1"))
    assert dataset.load().groupby("run_id").size().to_dict() == {"r1": 3, "r2": 2}


def test_upsert_updates_changed_rows_and_a_repeat_writes_nothing(db_url, copy_format):
    dataset = _dataset(db_url, table="forecast.u", save_args={"mode": "upsert", "keys": ["store_code"]})
    dataset.save(_frame())
    changed = _frame().assign(units=[9.0, 8.0, 7.0])
    dataset.save(changed)
    with psycopg.connect(db_url) as conn:
        versions = conn.execute("select store_code, xmin::text from forecast.u order by 1").fetchall()
    dataset.save(changed)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select store_code, xmin::text from forecast.u order by 1").fetchall() == versions
    assert dataset.load().sort_values("store_code")["units"].tolist() == [9.0, 8.0, 7.0]


def test_replace_readers_see_old_or_new_rows_never_a_mix(db_url):
    dataset = PostgresTableDataset("rt.big", credentials={"url": db_url}, save_args={"mode": "replace"})
    dataset.save(pd.DataFrame({"x": np.arange(1000)}))
    big = pd.DataFrame({"x": np.arange(400_000)})
    writer = threading.Thread(target=dataset.save, args=(big,))
    seen = set()
    writer.start()
    with psycopg.connect(db_url, autocommit=True) as conn:
        while writer.is_alive():
            seen.add(conn.execute("select count(*) from rt.big").fetchone()[0])
        writer.join()
        seen.add(conn.execute("select count(*) from rt.big").fetchone()[0])
    assert seen <= {1000, 400_000}
    assert 400_000 in seen


def test_failed_save_leaves_table_as_it_was(db_url):
    dataset = _dataset(db_url, save_args={"mode": "replace"})
    dataset.save(_frame())
    bad = _frame().assign(week=pd.Series(["2024-01-06", "not a date", "2024-01-20"], dtype="str"))
    with pytest.raises(DatasetError):
        dataset.save(bad)
    assert len(dataset.load()) == 3


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, pandas as pd
    from sellout.datasets import PostgresTableDataset
    dataset = PostgresTableDataset("rt.killed", credentials={"url": sys.argv[1]}, save_args={"mode": "replace"})
    frame = pd.DataFrame({"x": np.arange(3_000_000), "label": "row"})
    print("saving", flush=True)
    dataset.save(frame)
    """
)


def test_a_save_killed_midway_leaves_the_previous_table(db_url):
    dataset = PostgresTableDataset("rt.killed", credentials={"url": db_url}, save_args={"mode": "replace"})
    dataset.save(pd.DataFrame({"x": np.arange(10), "label": "old"}))
    process = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, db_url], stdout=subprocess.PIPE, env={**os.environ}, text=True
    )
    assert process.stdout.readline().strip() == "saving"
    with psycopg.connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        # wait until the COPY is under way on the server, then kill the writer
        while time.monotonic() < deadline:
            active = conn.execute(
                "select count(*) from pg_stat_activity where query ilike 'copy%%rt%%killed%%' and state = 'active'"
            ).fetchone()[0]
            if active:
                break
            time.sleep(0.05)
        assert active, "the writer never started its COPY"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        for _ in range(100):
            if not conn.execute(
                "select count(*) from pg_stat_activity where query ilike 'copy%%killed%%'"
            ).fetchone()[0]:
                break
            time.sleep(0.1)
    loaded = dataset.load()
    assert loaded["label"].tolist() == ["old"] * 10


# ---- reads --------------------------------------------------------------------------------------------------


def test_columns_filter_and_params(db_url):
    dataset = _dataset(db_url)
    dataset.save(_frame())
    reader = _dataset(
        db_url,
        load_args={"columns": ["store_code", "units"], "where": "units > %(min)s", "params": {"min": 2}},
    )
    loaded = reader.load()
    assert loaded.columns.tolist() == ["store_code", "units"]
    assert loaded["store_code"].tolist() == ["Bü3"]


def test_text_as_category_loads_text_as_codes_with_the_same_values(db_url):
    _dataset(db_url).save(_frame())
    plain = _dataset(db_url, load_args={"order_by": ["week"]}).load()
    coded = _dataset(db_url, load_args={"order_by": ["week"], "text_as_category": True}).load()
    for column in ("run_id", "store_code"):
        assert isinstance(coded[column].dtype, pd.CategoricalDtype)
        assert coded[column].astype("str").tolist() == plain[column].tolist()
    assert coded["units"].dtype == plain["units"].dtype == "float64"


def test_unknown_load_args_are_refused_with_the_known_ones():
    with pytest.raises(
        DatasetError, match="unknown load_args \\['colums'\\]; use columns, .*text_as_category"
    ):
        _dataset("postgresql://x@/y", load_args={"colums": ["a"]})


# ---- config errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["raw.t; drop table x", "a.b.c", "1abc", 'x"y'])
def test_unsafe_table_names_are_refused(name):
    with pytest.raises(UnsafeIdentifierError, match="not"):
        PostgresTableDataset(name, credentials={"url": "postgresql://x"})


def test_unsafe_column_names_are_refused():
    with pytest.raises(UnsafeIdentifierError, match="'units; --' is not a plain SQL identifier"):
        PostgresTableDataset(
            "a.b", credentials={"url": "postgresql://x"}, load_args={"columns": ["units; --"]}
        )


def test_upsert_needs_keys():
    with pytest.raises(DatasetError, match="needs save_args.keys"):
        PostgresTableDataset("a.b", credentials={"url": "postgresql://x"}, save_args={"mode": "upsert"})


def test_mark_sets_the_other_tables_rows_of_the_written_partitions_in_the_same_transaction(db_url):
    runs = PostgresTableDataset(
        "forecast.model_runs", credentials={"url": db_url}, columns={"run_id": "text", "published": "boolean"}
    )
    runs.save(pd.DataFrame({"run_id": ["r1", "r2"], "published": [False, False]}))
    forecasts = PostgresTableDataset(
        "forecast.forecasts",
        credentials={"url": db_url},
        columns={"run_id": "text", "units": "double precision"},
        save_args={
            "mode": "replace_partition",
            "partition_columns": ["run_id"],
            "mark": {"table": "forecast.model_runs", "set": {"published": True}},
        },
    )
    forecasts.save(pd.DataFrame({"run_id": ["r2", "r2"], "units": [1.0, 2.0]}))
    assert runs.load().sort_values("run_id")["published"].tolist() == [False, True]
    broken = PostgresTableDataset(
        "forecast.forecasts",
        credentials={"url": db_url},
        save_args={
            "mode": "replace_partition",
            "partition_columns": ["run_id"],
            "mark": {"table": "forecast.model_runs", "set": {"nope": True}},
        },
    )
    with pytest.raises(DatasetError):
        broken.save(pd.DataFrame({"run_id": ["r1"], "units": [3.0]}))
    assert runs.load().sort_values("run_id")["published"].tolist() == [False, True]  # nothing of r1 changed
    assert forecasts.load()["run_id"].tolist() == [
        "r2",
        "r2",
    ]  # the failed mark rolled back the forecasts too
