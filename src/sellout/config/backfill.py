"""A backfill: the ISO weeks a run reloads (``backfill_from`` .. ``backfill_to`` runtime params, e.g. ``2026-W05``).

A loaded file whose weeks overlap the range is loaded again, replacing what its earlier load wrote, as ``full``
mode does for every file; the marts and the forecast are rebuilt from the result as on every run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

ISO_WEEK = re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")


def backfill_range(params: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(backfill_from, backfill_to)`` as ISO weeks (``2026-W05``), or ``None`` when no range was asked for.

    One end alone means that one week.
    """
    start, end = params.get("backfill_from") or None, params.get("backfill_to") or None
    if start is None and end is None:
        return None
    start, end = start or end, end or start
    for key, value in (("backfill_from", start), ("backfill_to", end)):
        if not ISO_WEEK.match(str(value)):
            raise ValueError(f"parameter {key!r} is {value!r}; use an ISO week such as 2026-W05")
    if week_monday(start) > week_monday(end):
        raise ValueError(f"backfill_from {start} is after backfill_to {end}")
    return str(start), str(end)


def week_monday(iso_week: str) -> date:
    return datetime.strptime(f"{iso_week}-1", "%G-W%V-%u").date()


def backfill_dates(backfill: Mapping[str, str] | None) -> tuple[date, date] | None:
    """The first and the last day (Monday of ``from``, Sunday of ``to``) of a run context's backfill."""
    if not backfill:
        return None
    return week_monday(backfill["from"]), week_monday(backfill["to"]) + timedelta(days=6)
