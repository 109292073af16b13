import pandas as pd
import pytest
from kedro.io import DatasetError

from sellout.datasets import PostgresTableDataset
from sellout.db import UnsafeIdentifierError


def _frame(run_id="r1", n=3):
    return pd.DataFrame(
        {
            "run_id": [run_id] * n,
            "week": pd.to_datetime(["2024-01-06", "2024-01-13", "2024-01-20"][:n]),
            "store_code": ["A1", "A2", "Bü3"][:n],
            "units": [1.5, None, 3.0][:n],
            "promo": [True, False, True][:n],
        }
    )


COLUMNS = {"run_id": "text", "week": "date", "store_code": "text", "units": "numeric", "promo": "boolean"}


def test_round_trip_keeps_values_and_types(db_url):
    dataset = PostgresTableDataset("forecast.t", credentials={"url": db_url}, columns=COLUMNS)
    dataset.save(_frame())
    loaded = dataset.load()
    pd.testing.assert_frame_equal(loaded, _frame().astype({"promo": "boolean"}), check_dtype=False)
    assert loaded["week"].dtype == "datetime64[ns]"
    assert pd.isna(loaded.loc[1, "units"])


def test_replace_partition_is_idempotent(db_url):
    dataset = PostgresTableDataset(
        "forecast.t",
        credentials={"url": db_url},
        columns=COLUMNS,
        save_args={"mode": "replace_partition", "partition_columns": ["run_id"]},
    )
    dataset.save(_frame("r1"))
    dataset.save(_frame("r2", 2))
    dataset.save(_frame("r1"))
    counts = dataset.load().groupby("run_id").size().to_dict()
    assert counts == {"r1": 3, "r2": 2}


def test_upsert_twice_changes_nothing(db_url):
    dataset = PostgresTableDataset(
        "forecast.u",
        credentials={"url": db_url},
        columns=COLUMNS,
        save_args={"mode": "upsert", "keys": ["store_code"]},
    )
    dataset.save(_frame())
    changed = _frame().assign(units=[9.0, 8.0, 7.0])
    dataset.save(changed)
    dataset.save(changed)
    loaded = dataset.load().sort_values("store_code")
    assert loaded["units"].tolist() == [9.0, 8.0, 7.0]


def test_failed_save_leaves_table_as_it_was(db_url):
    dataset = PostgresTableDataset(
        "forecast.t", credentials={"url": db_url}, columns=COLUMNS, save_args={"mode": "replace"}
    )
    dataset.save(_frame())
    bad = _frame().assign(week=["2024-01-06", "not a date", "2024-01-20"])
    with pytest.raises(DatasetError):
        dataset.save(bad)
    assert len(dataset.load()) == 3


@pytest.mark.parametrize("name", ["raw.t; drop table x", "a.b.c", "1abc", 'x"y'])
def test_unsafe_table_names_are_refused(name):
    with pytest.raises(UnsafeIdentifierError, match="not"):
        PostgresTableDataset(name, credentials={"url": "postgresql://x"})


def test_upsert_needs_keys():
    with pytest.raises(DatasetError, match="needs save_args.keys"):
        PostgresTableDataset("a.b", credentials={"url": "postgresql://x"}, save_args={"mode": "upsert"})
