"""A dataset kept in memory for the rest of the run whose file is written on a thread while the next nodes run.

Catalog entry::

    model_panel:
      type: sellout.datasets.WriteBehindDataset
      dataset: {type: sellout.datasets.ParquetFileDataset, filepath: data/04_feature/model_panel.parquet}

Like Kedro's ``CachedDataset`` (with ``copy_mode: assign``: readers get the saved object itself, so they must not
change it), but ``save`` returns once the data is in memory and the wrapped dataset's save runs on a thread. The
write is waited for when the dataset is released (its last reader has run), before it is saved again or loaded
from its file, and at the end of the pipeline (``PendingWritesHooks``): a failed write fails the run there, with
the wrapped dataset's error. The wrapped dataset writes atomically or not (``ParquetFileDataset`` does): a run
killed in the middle leaves what a killed synchronous save would. ``BackgroundWrite`` is the
thread itself, for other datasets that write a file behind (the table snapshot).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CachedDataset, DatasetError

logger = logging.getLogger(__name__)

_pending: set[BackgroundWrite] = set()
_pending_lock = threading.Lock()


class BackgroundWrite:
    """``write()`` running on a thread; ``wait()`` joins it and raises its error (once)."""

    def __init__(self, label: str, write: Callable[[], None]) -> None:
        self._label = label
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(write,), name=f"write {label}", daemon=False)
        with _pending_lock:
            _pending.add(self)
        self._thread.start()

    def _run(self, write: Callable[[], None]) -> None:
        try:
            write()
        except BaseException as error:  # noqa: BLE001 - kept and raised where the write is waited for
            self._error = error
            return
        with _pending_lock:  # done: nothing to report, and the data it held is not kept by the list
            _pending.discard(self)

    def wait(self) -> None:
        self._thread.join()
        with _pending_lock:
            _pending.discard(self)
        error, self._error = self._error, None
        if error is not None:
            raise DatasetError(f"Writing {self._label} failed: {error}") from error


class WriteBehindDataset(CachedDataset):
    def __init__(self, dataset: Any, version: Any = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(dataset, version=version, copy_mode="assign", metadata=metadata)
        self._write: BackgroundWrite | None = None

    def save(self, data: Any) -> None:
        self.wait()
        self._cache.save(data)
        self._write = BackgroundWrite(str(self._dataset), lambda: self._dataset.save(data))

    def wait(self) -> None:
        """Until the file is written; the write's error, if it failed."""
        write, self._write = self._write, None
        if write is not None:
            write.wait()

    def load(self) -> Any:
        if not self._cache.exists():
            self.wait()
        return super().load()

    def _release(self) -> None:
        self.wait()
        super()._release()


def wait_for_writes() -> None:
    """Every pending write finished; the first failure raised (after the others are waited for)."""
    with _pending_lock:
        writes = list(_pending)
    errors = []
    for write in writes:
        try:
            write.wait()
        except DatasetError as error:
            errors.append(error)
    if errors:
        raise errors[0]


class PendingWritesHooks:
    """The run ends (and is recorded) only once every write-behind file is written."""

    @hook_impl(tryfirst=True)
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline, catalog) -> None:
        wait_for_writes()

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        try:
            wait_for_writes()
        except DatasetError as write_error:
            logger.error("%s", write_error)
