"""Holidays and calendar features of weeks (7 days ending on the week end date)."""

from datetime import date

import pandas as pd

from sellout.pipelines.features.calendar import HOLIDAY_CODES, calendar_features, holiday_code, holidays


def test_holiday_dates_of_known_years():
    h2011 = holidays(2011)
    assert h2011["thanksgiving"] == date(2011, 11, 24)
    assert h2011["easter"] == date(2011, 4, 24)
    assert h2011["memorial_day"] == date(2011, 5, 30)
    assert h2011["labor_day"] == date(2011, 9, 5)
    assert h2011["super_bowl"] == date(2011, 2, 6)
    assert holidays(2010)["easter"] == date(2010, 4, 4)


def test_week_gets_the_holiday_inside_its_seven_days():
    # Weeks ending on Wednesdays: 2011-11-30 covers Thu 24 Nov (Thanksgiving); 2011-11-23 does not.
    weeks = pd.DatetimeIndex(["2011-11-23", "2011-11-30", "2011-12-28", "2011-08-10"])
    codes = holiday_code(weeks)
    assert codes.tolist() == [0, HOLIDAY_CODES["thanksgiving"], HOLIDAY_CODES["christmas"], 0]
    feats = calendar_features(weeks)
    assert feats["weeks_to_holiday"].tolist() == [1.0, 0.0, 0.0, 4.0]
    assert feats["month"].tolist() == [11.0, 11.0, 12.0, 8.0]
