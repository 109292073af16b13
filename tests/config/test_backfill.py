"""The backfill range: ISO weeks in, the days they cover out, and the run context that carries it."""

from __future__ import annotations

from datetime import date

import pytest

from sellout.config.backfill import backfill_dates, backfill_range
from sellout.config.run import build_run_context


def test_one_end_of_the_range_alone_means_that_week():
    assert backfill_range({"backfill_from": "2026-W05"}) == ("2026-W05", "2026-W05")
    assert backfill_range({"backfill_to": "2026-W05"}) == ("2026-W05", "2026-W05")
    assert backfill_range({"backfill_from": None, "backfill_to": ""}) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"backfill_from": "2026-05"}, "'backfill_from' is '2026-05'"),
        ({"backfill_from": "2026-W01", "backfill_to": "2026-W54"}, "'backfill_to' is '2026-W54'"),
        ({"backfill_from": "2026-W09", "backfill_to": "2026-W02"}, "2026-W09 is after backfill_to 2026-W02"),
    ],
)
def test_a_bad_range_is_refused_with_the_parameter_named(params, message):
    with pytest.raises(ValueError, match=message):
        backfill_range(params)


def test_the_range_covers_monday_of_the_first_week_to_sunday_of_the_last():
    # ISO 2021-W01 starts on Monday 2021-01-04; 2020-W53 exists and ends on Sunday 2021-01-03
    assert backfill_dates({"from": "2020-W53", "to": "2021-W01"}) == (date(2020, 12, 28), date(2021, 1, 10))
    assert backfill_dates(None) is None


def test_the_run_context_carries_the_range():
    context = build_run_context("s1", {"backfill_from": "2026-W05", "backfill_to": "2026-W08"}, "local")
    assert context["backfill"] == {"from": "2026-W05", "to": "2026-W08"}
    assert build_run_context("s1", {}, "local")["backfill"] is None
    with pytest.raises(ValueError, match="backfill_from"):
        build_run_context("s1", {"backfill_from": "last week"}, "local")
