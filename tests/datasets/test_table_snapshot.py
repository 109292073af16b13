"""The table snapshot against a real PostgreSQL: after every kind of rewrite it gives what a whole read gives."""

from __future__ import annotations

import logging

import pandas as pd
import psycopg
import pytest
from kedro.io import DatasetError

from sellout.datasets import PostgresTableDataset
from sellout.datasets.table_snapshot import TableSnapshotDataset

TABLE = "marts.fact"
COLUMNS = ["week_end_date", "store_code", "units", "promo"]


def _create(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute("drop table if exists marts.fact")
        conn.execute(
            "create table marts.fact (source text, week_end_date date, store_code text, units numeric, "
            "promo boolean, built_by_run text, file_id bigint)"
        )


def _rewrite(url: str, source: str, week: str, stores: list[str], run: str, file_id: int, units=1.0) -> None:
    """What dbt's delete+insert does to one (source, week)."""
    with psycopg.connect(url) as conn:
        conn.execute("delete from marts.fact where source = %s and week_end_date = %s", (source, week))
        for k, store in enumerate(stores):
            conn.execute(
                "insert into marts.fact values (%s, %s, %s, %s, %s, %s, %s)",
                (source, week, store, units + k, k % 2 == 0, run, file_id),
            )


def _dataset(url: str, tmp_path, mode: str = "incremental") -> TableSnapshotDataset:
    return TableSnapshotDataset(
        table=TABLE,
        columns=COLUMNS,
        keys=["source", "week_end_date"],
        stamps=["built_by_run", "file_id"],
        filepath=str(tmp_path / "fact.parquet"),
        credentials={"url": url},
        mode=mode,
    )


def _whole(url: str) -> pd.DataFrame:
    query = "select source, week_end_date, store_code, units, promo from marts.fact"
    return PostgresTableDataset(
        TABLE, {"url": url}, load_args={"query": query, "text_as_category": True}
    ).load()


def _normal(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted, text as text: a snapshot's rows come in no particular order, its categories in another."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("str")
    return out.sort_values(list(out.columns), kind="stable").reset_index(drop=True)


def _read(dataset, url, caplog) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sellout.datasets.table_snapshot"):
        frame = dataset.load()
    pd.testing.assert_frame_equal(_normal(frame), _normal(_whole(url)))
    return caplog.text


@pytest.fixture
def fact(db_url):
    _create(db_url)
    for week in range(1, 9):
        _rewrite(db_url, "shop", f"2024-01-{week:02d}", ["S1", "S2", "S3"], "r1", week)
    _rewrite(db_url, "daily", "2024-01-01", ["D1"], "r1", 100)
    return db_url


def test_each_rewrite_reads_only_its_keys_and_gives_the_whole_tables_rows(fact, tmp_path, caplog):
    dataset = _dataset(fact, tmp_path)
    assert "read whole" in _read(dataset, fact, caplog)
    _rewrite(fact, "shop", "2024-01-09", ["S1", "S4"], "r2", 9)  # a new week with a new store
    assert "1 of 10 keys read again" in _read(dataset, fact, caplog)
    _rewrite(fact, "shop", "2024-01-03", ["S2"], "r3", 10)  # a resent week: fewer rows
    _rewrite(fact, "daily", "2024-01-01", ["D1", "D2"], "r3", 11)  # another source, same week date
    assert "2 of 10 keys read again" in _read(dataset, fact, caplog)
    with psycopg.connect(fact) as conn:  # a key gone from the table
        conn.execute("delete from marts.fact where source = 'shop' and week_end_date = '2024-01-09'")
    assert "1 of 9 keys read again" in _read(dataset, fact, caplog)


def test_an_unchanged_table_leaves_the_snapshot_as_it_is(fact, tmp_path, caplog):
    dataset = _dataset(fact, tmp_path)
    _read(dataset, fact, caplog)
    written = (tmp_path / "fact.parquet").stat().st_mtime_ns
    assert "unchanged" in _read(dataset, fact, caplog)
    assert (tmp_path / "fact.parquet").stat().st_mtime_ns == written


def test_the_same_run_rewriting_a_week_from_another_file_is_seen(fact, tmp_path, caplog):
    dataset = _dataset(fact, tmp_path)
    _read(dataset, fact, caplog)
    _rewrite(fact, "shop", "2024-01-05", ["S1", "S2", "S3"], "r1", 50, units=7.0)  # same run, same count
    assert "1 of 9 keys read again" in _read(dataset, fact, caplog)


def test_whole_reads_where_a_snapshot_cannot_be_trusted(fact, tmp_path, caplog):
    dataset = _dataset(fact, tmp_path)
    _read(dataset, fact, caplog)
    assert "read whole" in _read(_dataset(fact, tmp_path, mode="full"), fact, caplog)

    _create(fact)  # the table rebuilt (a full refresh): another table with the same name
    _rewrite(fact, "shop", "2024-01-01", ["S9"], "r5", 1)
    assert "read whole" in _read(dataset, fact, caplog)

    _rewrite(fact, "shop", "2024-01-02", ["S9"], "", 2)  # a rewrite without a run stamp would not show
    _read(dataset, fact, caplog)
    assert "read whole" in _read(dataset, fact, caplog)

    (tmp_path / "fact.parquet").write_bytes(b"not parquet")
    text = _read(_dataset(fact, tmp_path), fact, caplog)
    assert "unreadable" in text and "read whole" in text


def test_most_keys_changed_is_a_whole_read(fact, tmp_path, caplog):
    dataset = _dataset(fact, tmp_path)
    _read(dataset, fact, caplog)
    for week in range(1, 7):
        _rewrite(fact, "shop", f"2024-01-{week:02d}", ["S1"], "r2", 20 + week)
    assert "read whole (6 of 9 keys changed)" in _read(dataset, fact, caplog)


def test_it_is_read_only(fact, tmp_path):
    with pytest.raises(DatasetError, match="read only"):
        _dataset(fact, tmp_path).save(pd.DataFrame())


@pytest.mark.parametrize("stamps", [["built_by_run", "file_id"], ["file_id", "built_by_run"]])
def test_changed_keys_are_fetched_by_their_first_stamp_or_whole(fact, tmp_path, caplog, stamps):
    """A changed key's rows are asked for by its one value of the first stamp (text or a number), and read
    by the key alone where its rows carry several (a row added by hand beside a rewrite's)."""
    dataset = _dataset(fact, tmp_path)
    dataset._stamps = stamps
    _read(dataset, fact, caplog)
    _rewrite(fact, "shop", "2024-01-04", ["S1", "S5"], "r7", 70)
    _rewrite(fact, "shop", "2024-01-10", ["S6"], "r7", 71)
    assert "2 of 10 keys read again" in _read(dataset, fact, caplog)
    with psycopg.connect(fact) as conn:
        conn.execute("insert into marts.fact values ('shop', '2024-01-04', 'S7', 3, true, 'r8', 72)")
    assert "1 of 10 keys read again" in _read(dataset, fact, caplog)


def _stored_versions(dataset: TableSnapshotDataset, url: str) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        oid = conn.execute("select %s::regclass::oid", (TABLE,)).fetchone()[0]
    return dataset._stored(int(oid))[1]


def _sorted(versions: pd.DataFrame) -> pd.DataFrame:
    return versions.sort_values(["source", "week_end_date"]).reset_index(drop=True)


def test_only_the_keys_of_changed_stamps_are_aggregated_again(fact, tmp_path, caplog, monkeypatch):
    """A read counts the rows per combination of stamps and aggregates again only the keys of those whose count
    changed (a rewrite, a key gone, a row added by hand); the versions it keeps equal an aggregate of every key."""
    dataset = _dataset(fact, tmp_path)
    _read(dataset, fact, caplog)
    aggregated = []
    aggregate = TableSnapshotDataset._aggregate

    def recording(self, conn, stamped=None):
        versions = aggregate(self, conn, stamped)
        aggregated.append(len(versions))
        return versions

    monkeypatch.setattr(TableSnapshotDataset, "_aggregate", recording)
    _rewrite(fact, "shop", "2024-01-03", ["S2"], "r3", 10)
    with psycopg.connect(fact) as conn:
        conn.execute("delete from marts.fact where source = 'shop' and week_end_date = '2024-01-05'")
        conn.execute("insert into marts.fact values ('shop', '2024-01-07', 'S8', 3, true, 'r4', 12)")
    assert "3 of 8 keys read again" in _read(dataset, fact, caplog)
    assert aggregated == [2]  # the rewritten key and the one with a row added; the deleted one is gone
    with psycopg.connect(fact) as conn:
        every_key = aggregate(dataset, conn)
    pd.testing.assert_frame_equal(_sorted(_stored_versions(dataset, fact)), _sorted(every_key))
