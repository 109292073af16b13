"""The plan of future weeks: the promotion plan where given, the explicit plan rule elsewhere."""

import numpy as np
import pandas as pd
import pytest
from support.forecast_panels import promo_panel

from sellout.pipelines.features.wide import to_wide
from sellout.pipelines.forecasting.plan import activate_series, apply_plan


def _future_panel(horizon=3):
    panel = promo_panel(20)
    panel.loc[panel["week_end_date"] == panel["week_end_date"].max(), "base_price"] = 2.2
    wp = to_wide(panel)
    origin = len(wp.weeks) - 1
    return wp.extended(horizon), origin


def test_rule_without_plan_is_last_base_price_and_no_promotion():
    wp, origin = _future_panel()
    rows = np.arange(wp.n_series)
    apply_plan(wp, origin, 3, rows, None)
    future = slice(origin + 1, origin + 4)
    assert (wp.exog["price"][:, future] == 2.2).all() and (wp.exog["base_price"][:, future] == 2.2).all()
    for flag in ("feature", "display", "tpr_only"):
        assert (wp.exog[flag][:, future] == 0.0).all()


def test_plan_wins_where_it_has_a_value_and_the_rule_fills_the_rest():
    wp, origin = _future_panel()
    week2 = wp.weeks[origin + 2]
    plan = pd.DataFrame(
        {
            "store_code": ["S1", "S2"],
            "product_code": ["P1", "P2"],
            "week_end_date": [week2, week2],
            "price": [1.25, None],
            "feature": ["true", "1"],
        }
    )
    apply_plan(wp, origin, 3, np.arange(wp.n_series), plan)
    s1p1 = wp.series.index[(wp.series["store_code"] == "S1") & (wp.series["product_code"] == "P1")][0]
    s2p2 = wp.series.index[(wp.series["store_code"] == "S2") & (wp.series["product_code"] == "P2")][0]
    assert wp.exog["price"][s1p1, origin + 2] == 1.25 and wp.exog["feature"][s1p1, origin + 2] == 1.0
    assert wp.exog["price"][s2p2, origin + 2] == 2.2  # blank price: the rule
    assert wp.exog["feature"][s2p2, origin + 2] == 1.0
    assert wp.exog["feature"][s1p1, origin + 1] == 0.0  # week not in the plan: the rule
    assert wp.exog["base_price"][s1p1, origin + 2] == 2.2


def test_bad_plan_rows_are_named():
    wp, origin = _future_panel()
    rows = np.arange(wp.n_series)
    bad_flag = pd.DataFrame(
        {
            "store_code": ["S1"],
            "product_code": ["P1"],
            "week_end_date": [wp.weeks[origin + 1]],
            "display": ["maybe"],
        }
    )
    with pytest.raises(ValueError, match="row 0: display must be true/false"):
        apply_plan(wp, origin, 3, rows, bad_flag)
    with pytest.raises(ValueError, match="lacks columns"):
        apply_plan(wp, origin, 3, rows, pd.DataFrame({"store_code": ["S1"], "price": [1.0]}))
    too_many = bad_flag.drop(columns="display").assign(days_closed=[8])
    with pytest.raises(ValueError, match=r"row 0: days_closed must be days of the week \(0 to 7\), got 8"):
        apply_plan(wp, origin, 3, rows, too_many)
    with pytest.raises(ValueError, match="plan_rule"):
        apply_plan(wp, origin, 3, rows, None, rule="carry_promo")


def test_active_series_are_extended_with_zero_weeks_and_stale_ones_dropped():
    panel = promo_panel(20)
    last = panel["week_end_date"].max()
    stale = (panel["store_code"] == "S1") & (panel["product_code"] == "P1")
    gap = (panel["store_code"] == "S2") & (panel["product_code"] == "P2")
    panel = panel[~(stale & (panel["week_end_date"] > last - pd.Timedelta(weeks=10)))]
    panel = panel[~(gap & (panel["week_end_date"] > last - pd.Timedelta(weeks=2)))]
    wp = to_wide(panel)
    origin = len(wp.weeks) - 1
    rows = activate_series(wp, origin, active_weeks=4)
    names = set(
        zip(wp.series["store_code"].to_numpy()[rows], wp.series["product_code"].to_numpy()[rows], strict=True)
    )
    assert ("S1", "P1") not in names and ("S2", "P2") in names and len(rows) == 3
    r = wp.series.index[(wp.series["store_code"] == "S2") & (wp.series["product_code"] == "P2")][0]
    assert (wp.units[r, origin - 1 :] == 0.0).all() and wp.in_span[r, origin]
