"""The write-behind dataset: save returns before the file is written, and nothing reads or ends before it is."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from kedro.io import AbstractDataset, DataCatalog, DatasetError
from kedro.pipeline import node, pipeline
from kedro.runner import SequentialRunner

from sellout.datasets.write_behind import PendingWritesHooks, WriteBehindDataset, wait_for_writes


class GatedDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """Holds each save until ``gate`` is set (at once unless ``held``); records the thread that saved;
    ``fail`` makes the save raise once let through."""

    def __init__(self, fail: bool = False, held: bool = False) -> None:
        self.gate = threading.Event()
        if not held:
            self.gate.set()
        self.fail = fail
        self.saved: list[pd.DataFrame] = []
        self.saved_on: list[threading.Thread] = []

    def _save(self, data: pd.DataFrame) -> None:
        self.saved_on.append(threading.current_thread())
        self.gate.wait()
        if self.fail:
            raise OSError("disk full")
        self.saved.append(data.copy())

    def _load(self) -> pd.DataFrame:
        return self.saved[-1]

    def _describe(self) -> dict:
        return {"kind": "gated"}


FRAME = pd.DataFrame({"a": [1, 2, 3]})


def test_the_write_runs_on_a_thread_and_release_waits_for_it():
    inner = GatedDataset()
    dataset = WriteBehindDataset(inner)
    dataset.save(FRAME)
    assert dataset.load() is FRAME  # readers get the object in memory
    dataset.release()
    assert inner.saved_on[0] is not threading.main_thread()
    pd.testing.assert_frame_equal(inner.saved[0], FRAME)


def test_parquet_file_written_whole(tmp_path):
    path = tmp_path / "panel.parquet"
    dataset = WriteBehindDataset({"type": "sellout.datasets.ParquetFileDataset", "filepath": str(path)})
    dataset.save(FRAME)
    wait_for_writes()
    pd.testing.assert_frame_equal(pd.read_parquet(path), FRAME)
    # another process's catalog (an Airflow task) has no copy in memory: it reads the file
    fresh = WriteBehindDataset({"type": "sellout.datasets.ParquetFileDataset", "filepath": str(path)})
    pd.testing.assert_frame_equal(fresh.load(), FRAME)


def test_a_failed_write_fails_where_it_is_waited_for():
    inner = GatedDataset(fail=True)
    dataset = WriteBehindDataset(inner)
    dataset.save(FRAME)
    inner.gate.set()
    with pytest.raises(DatasetError, match="disk full"):
        dataset.release()
    dataset.release()  # reported once


def test_a_second_save_waits_for_the_first_write():
    inner = GatedDataset()
    dataset = WriteBehindDataset(inner)
    dataset.save(FRAME)
    inner.gate.set()
    dataset.save(FRAME.assign(a=FRAME["a"] * 10))
    dataset.wait()
    assert [frame["a"].tolist() for frame in inner.saved] == [[1, 2, 3], [10, 20, 30]]


def test_the_hook_fails_a_run_whose_pipeline_output_was_not_written():
    """A pipeline output is never released by the runner: the hook waits for it at the end of the run."""
    inner = GatedDataset(fail=True)
    catalog = DataCatalog({"panel": WriteBehindDataset(inner)})
    SequentialRunner().run(pipeline([node(lambda: FRAME, None, "panel")]), catalog)
    with pytest.raises(DatasetError, match="disk full"):
        PendingWritesHooks().after_pipeline_run({}, None, None, catalog)
    wait_for_writes()  # nothing left pending


def test_released_by_the_runner_after_its_last_reader():
    inner = GatedDataset(held=True)

    def reader(frame: pd.DataFrame) -> int:
        inner.gate.set()  # the write goes on only once the reader has run
        return len(frame)

    catalog = DataCatalog({"panel": WriteBehindDataset(inner)})
    SequentialRunner().run(
        pipeline([node(lambda: FRAME, None, "panel"), node(reader, "panel", "rows")]), catalog
    )
    assert len(inner.saved) == 1  # the runner's release of the dataset waited for its write
