"""Independent fits side by side: how many at a time, on how many threads, results in order."""

import threading

import pytest

from sellout.pipelines.forecasting import parallel


def test_the_threads_are_shared_among_the_fits(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    assert parallel.fit_workers(None, 0, jobs=12) == (2, 1)  # every core: one fit per core, one thread each
    assert parallel.fit_workers(1, 0, jobs=12) == (1, 2)  # one at a time, on every core
    assert parallel.fit_workers(None, 0, jobs=1) == (1, 2)  # a lone fit keeps every core
    assert parallel.fit_workers(None, 0, jobs=0) == (1, 2)
    assert parallel.fit_workers(None, 4, jobs=12) == (4, 1)  # num_threads set: that many threads in all
    assert parallel.fit_workers(2, 4, jobs=12) == (2, 2)
    assert parallel.fit_workers(8, 4, jobs=12) == (8, 1)
    big = parallel.SIDE_BY_SIDE_MAX_BYTES + 1  # a big fit gains nothing side by side and holds more memory
    assert parallel.fit_workers(None, 0, jobs=12, matrix_bytes=big) == (1, 2)


def test_fits_run_side_by_side_and_come_back_in_order():
    # The barrier opens only when two fits run at the same time; its timeout never paces a passing run, it turns
    # fits run one after the other (a deadlock) into a failure instead of a hang.
    both_running = threading.Barrier(2, timeout=600)

    def fit(item):
        if item < 2:
            both_running.wait()
        return item * 10

    assert list(parallel.in_order(fit, [0, 1, 2, 3], workers=2)) == [(0, 0), (1, 10), (2, 20), (3, 30)]


def test_one_worker_fits_in_the_caller_s_thread():
    threads = []
    results = parallel.in_order(lambda item: threads.append(threading.current_thread()), [1, 2], workers=1)
    assert [item for item, _ in results] == [1, 2]
    assert threads == [threading.current_thread()] * 2


def test_a_failed_fit_is_raised_in_its_place():
    def fit(item):
        if item == 1:
            raise ValueError("no training rows")
        return item

    results = parallel.in_order(fit, [0, 1, 2, 3], workers=2)
    assert next(results) == (0, 0)
    with pytest.raises(ValueError, match="no training rows"):
        next(results)
