"""Whether a feed's rows are daily or weekly, its date format, and the weekday its weeks end on, from the dates
of the column mapped as the week's or the day's."""

from __future__ import annotations

import numpy as np

from sellout.canonical import DAY, WEEK
from sellout.config.sources import WEEKDAYS
from sellout.ingest.column_profiles import ColumnProfile
from sellout.ingest.conversions import is_week_number_format, weekday_of


def dates_and_frequency(
    profiles: list[ColumnProfile], mapping: dict[str, str], unsure: dict[str, str], notes: list[str]
) -> dict:
    """date_format, frequency and week_ending_weekday from the dated column's values (a daily column mapped as
    the week's moves to the day's, and back); what the dates leave open goes into ``unsure`` and ``notes``."""
    by_name = {p.name: p for p in profiles}
    column = mapping.get(DAY) or mapping.get(WEEK)
    if column is None:
        notes.append("no date column found: map week_end_date (or date for a daily feed) under columns")
        return {"date_format": "%Y-%m-%d", "frequency": "weekly"}
    profile = by_name[column]
    if profile.date_alternatives:
        unsure["sellout.date_format"] = f"the sample also reads as {' or '.join(profile.date_alternatives)}"
    dates = profile.dates[~np.isnat(profile.dates)]
    distinct = np.unique(dates)
    weekdays = sorted(set(weekday_of(distinct).tolist()))
    named_daily = DAY in mapping
    result: dict = {"date_format": profile.date_format}
    if len(weekdays) >= 3 or (named_daily and len(weekdays) != 1):
        result["frequency"] = "daily"
        if WEEK in mapping and mapping.get(DAY) is None:
            mapping[DAY] = mapping.pop(WEEK)
        result["week_ending_weekday"] = "sunday"
        unsure["sellout.week_ending_weekday"] = (
            "daily rows do not say the retailer's week: sunday ends a calendar (ISO) week"
        )
        span = f"{np.datetime_as_string(distinct.min(), 'D')}..{np.datetime_as_string(distinct.max(), 'D')}"
        notes.append(f"daily rows ({len(distinct)} days in the sample, {span}): summed into weeks at ingest")
        return result
    if named_daily and len(distinct) <= 1:
        result["frequency"] = "daily"
        result["week_ending_weekday"] = "sunday"
        unsure["sellout.frequency"] = "the sample has one date; the column's name says a day"
        unsure["sellout.week_ending_weekday"] = "the retailer's week is not in the file"
        return result
    if DAY in mapping:
        mapping[WEEK] = mapping.pop(DAY)
    result["frequency"] = "weekly"
    result["week_ending_weekday"] = WEEKDAYS[weekdays[0]]
    if is_week_number_format(profile.date_format):
        unsure["sellout.week_ending_weekday"] = (
            "the dates are week numbers, dated on this day of their ISO week (sunday: its end): set the day the "
            "retailer's weeks end on"
        )
        return result
    if len(weekdays) == 2:
        unsure["sellout.week_ending_weekday"] = (
            f"dates fall on {WEEKDAYS[weekdays[0]]} and {WEEKDAYS[weekdays[1]]}: rows on the other day are rejected"
        )
    elif len(distinct) == 1:
        unsure["sellout.week_ending_weekday"] = (
            "the sample has one date: its weekday is taken as the week's end"
        )
    else:
        gaps = np.diff(distinct).astype("timedelta64[D]").astype(int)
        if np.any(gaps % 7):
            unsure["sellout.frequency"] = "dates are not whole weeks apart"
    return result
