"""Calendar features of a week: ISO week of year, month, and which US retail holiday falls in the week.

A week is identified by its end date and covers the 7 days ending on it. Holidays are computed, not looked up,
so any year works offline. Codes (0 = none) are stable: they are model inputs.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

HOLIDAY_CODES = {
    "new_year": 1,
    "super_bowl": 2,
    "easter": 3,
    "memorial_day": 4,
    "independence_day": 5,
    "labor_day": 6,
    "halloween": 7,
    "thanksgiving": 8,
    "christmas": 9,
}


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """n-th (1-based; -1 = last) given weekday (Mon=0) of a month."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (Meeus/Jones/Butcher algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def holidays(year: int) -> dict[str, date]:
    """The US retail holidays of ``year``."""
    return {
        "new_year": date(year, 1, 1),
        "super_bowl": _nth_weekday(year, 2, 6, 1),  # first Sunday of February (since 2004, close enough)
        "easter": _easter(year),
        "memorial_day": _nth_weekday(year, 5, 0, -1),
        "independence_day": date(year, 7, 4),
        "labor_day": _nth_weekday(year, 9, 0, 1),
        "halloween": date(year, 10, 31),
        "thanksgiving": _nth_weekday(year, 11, 3, 4),
        "christmas": date(year, 12, 25),
    }


def holiday_code(week_end: pd.DatetimeIndex) -> np.ndarray:
    """For each week (the 7 days ending on ``week_end``), the code of the holiday in it (0 = none)."""
    codes = np.zeros(len(week_end), dtype="int64")
    if len(week_end) == 0:
        return codes
    ends = week_end.normalize()
    days = ends.to_numpy().astype("datetime64[D]")
    for year in range(ends.min().year - 1, ends.max().year + 2):
        for name, day in holidays(year).items():
            start = np.datetime64(day, "D")
            codes[(days >= start) & (days < start + 7)] = HOLIDAY_CODES[name]
    return codes


def calendar_features(week_end: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """week_of_year, month, holiday (code) and weeks_to_holiday (0..3, 4 = none within 3 weeks ahead)."""
    holiday = holiday_code(week_end)
    ahead = np.full(len(week_end), 4.0)
    for k in range(3, -1, -1):
        ahead[holiday_code(week_end + pd.Timedelta(weeks=k)) > 0] = k
    return {
        "week_of_year": week_end.isocalendar().week.to_numpy(dtype="float64"),
        "month": week_end.month.to_numpy(dtype="float64"),
        "holiday": holiday.astype("float64"),
        "weeks_to_holiday": ahead,
    }
