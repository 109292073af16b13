"""Independent fits run side by side, the cores shared among them.

LightGBM's boosting gains 1.68 times from a second thread on 2 cores here (40 rounds over 562,000 rows: 2.7-2.8 s
on one thread, 1.6 s on two), so two one-thread fits side by side finish before the same two fits one after the
other on two threads (3.3-3.9 s against 4.1-4.9 s). The backtest's refreshes of one full fit and the selection's
candidates do not depend on one another: they are fitted this way (dunnhumby, `make bench-flow` back to back
with one at a time: the backtest 38.7 -> 33.2 s and 37.9 -> 36.5 s, the choice of settings 5.6 -> 4.7 s and
5.6 -> 4.9 s, the run's peak 740 -> 860-925 MB). The gain shrinks as the fits grow and the memory of the second
fit grows with them: at 20 times dunnhumby (2 million rows, a 159 MB matrix a refresh) the backtest took 159.4 s
side by side against 169.5 s one at a time, at a peak 446 MB higher, so fits whose matrix is over
``SIDE_BY_SIDE_MAX_BYTES`` run one at a time. A fit's model does not depend on its thread count beyond rounding
(deterministic, row-wise histograms: the 1x backtest's forecasts side by side differ from those one at a time by
at most 4.4e-16; on the tests' panels not at all).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# One training matrix (the float copy of a fit's rows, before LightGBM bins it) at a time: fits side by side
# share the cores, not the memory of their copies.
MATRIX_LOCK = threading.Lock()

# The float32 training matrix of a fit above which fits run one at a time (see above: 47 MB gained 14% of the
# backtest for 190 MB, 159 MB 6% for 446 MB).
SIDE_BY_SIDE_MAX_BYTES = 128 * 2**20


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def fit_workers(
    parallel_fits: int | None, num_threads: int, jobs: int, matrix_bytes: int = 0
) -> tuple[int, int]:
    """How many fits run at a time and LightGBM's threads for each: ``parallel_fits`` (None: one per thread of
    ``num_threads``, LightGBM's setting, 0 = every core) over at most ``jobs`` fits, one at a time where a
    fit's training matrix takes ``matrix_bytes`` over ``SIDE_BY_SIDE_MAX_BYTES``."""
    budget = num_threads if num_threads > 0 else cores()
    if matrix_bytes > SIDE_BY_SIDE_MAX_BYTES:
        return 1, budget
    workers = max(1, min(parallel_fits or budget, jobs))
    return workers, max(1, budget // workers)


def in_order(
    fit: Callable[[Item], Result], items: Iterable[Item], workers: int
) -> Iterator[tuple[Item, Result]]:
    """``(item, fit(item))`` in the order of ``items``, ``workers`` fits at a time; each result is yielded as soon
    as it and those before it are done, so that the caller uses one while the next ones are fitted."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield item, fit(item)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fit") as pool:
        futures = [pool.submit(fit, item) for item in items]
        try:
            for item, future in zip(items, futures, strict=True):
                yield item, future.result()
        finally:
            for future in futures:
                future.cancel()
