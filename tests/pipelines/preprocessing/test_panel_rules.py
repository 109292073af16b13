import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.preprocessing.panel_rules import apply_rules

WEEKS = pd.date_range("2024-01-06", periods=30, freq="7D")


def _series(store, product, units, start=0, filled=None):
    n = len(units)
    return pd.DataFrame(
        {
            "store_code": store,
            "product_code": product,
            "week_end_date": WEEKS[start : start + n],
            "units": np.asarray(units, dtype=float),
            "is_filled": filled if filled is not None else [False] * n,
        }
    )


def _rules(**rules):
    return {"rules": rules}


def test_a_long_run_of_weeks_without_rows_is_unranged_a_short_one_is_zero_sales():
    filled = [False] * 5 + [True] * 3 + [False] * 4 + [True] * 10 + [False] * 3
    units = [5.0 if not f else 0.0 for f in filled]
    panel = apply_rules(_series("S1", "P1", units, filled=filled), _rules(unranged_gap_weeks=6))
    assert panel.loc[5:7, "is_ranged"].all() and (panel.loc[5:7, "units"] == 0).all()
    assert not panel.loc[12:21, "is_ranged"].any() and panel.loc[12:21, "units"].isna().all()
    assert panel.loc[22:, "is_ranged"].all()


def test_ranging_rule_off_means_every_week_in_the_span_is_a_sale_or_zero():
    filled = [False] + [True] * 20 + [False]
    panel = apply_rules(_series("S1", "P1", [1.0] + [0.0] * 20 + [1.0], filled=filled), _rules())
    assert panel["is_ranged"].all() and panel["units"].notna().all()


def test_launches_and_delistings():
    old = _series("S1", "P1", [3.0] * 30)
    launched = _series("S1", "P2", [1.0] * 20, start=10)
    delisted = _series("S2", "P1", [4.0] * 15)
    panel = apply_rules(pd.concat([old, launched, delisted]), _rules(launch_weeks=3, delisted_after_weeks=8))
    by_series = panel.groupby(["store_code", "product_code"])
    assert by_series["is_launch"].sum().to_dict() == {("S1", "P1"): 0, ("S1", "P2"): 3, ("S2", "P1"): 0}
    launch_weeks = panel.loc[panel["is_launch"], "week_end_date"].tolist()
    assert launch_weeks == list(WEEKS[10:13])
    assert by_series["is_delisted"].all().to_dict() == {
        ("S1", "P1"): False,
        ("S1", "P2"): False,
        ("S2", "P1"): True,
    }


@pytest.mark.parametrize(("action", "expected"), [("cap", 5.0 + 10 * 1.0), ("keep", 400.0)])
def test_outliers_are_flagged_and_capped_for_training_only(action, expected):
    units = [5.0, 4.0, 6.0, 5.0, 400.0, 5.0, 4.0, 6.0]
    panel = apply_rules(_series("S1", "P1", units), _rules(outlier_mad_threshold=10, outlier_action=action))
    assert panel["is_outlier"].tolist() == [False] * 4 + [True] + [False] * 3
    assert panel.loc[4, "units"] == 400.0  # what was sold stays the actual
    assert panel.loc[4, "units_for_training"] == expected
    assert panel["units_for_training"].drop(index=4).tolist() == [5.0, 4.0, 6.0, 5.0, 5.0, 4.0, 6.0]


@pytest.mark.parametrize(
    "promotion",
    [{"feature": True}, {"display": True}, {"tpr_only": True}, {"price": 1.5, "base_price": 2.0}],
)
def test_a_promoted_spike_is_not_an_outlier(promotion):
    units = [5.0, 4.0, 6.0, 5.0, 400.0, 5.0, 4.0, 6.0, 500.0]
    panel = _series("S1", "P1", units).assign(feature=False, display=False, tpr_only=False)
    panel = panel.assign(price=2.0, base_price=2.0)
    for column, value in promotion.items():
        panel.loc[4, column] = value
    flagged = apply_rules(panel, _rules(outlier_mad_threshold=10))
    assert flagged["is_outlier"].tolist() == [False] * 8 + [True]
    assert flagged.loc[4, "units_for_training"] == 400.0


def test_a_bad_action_is_refused_by_name():
    with pytest.raises(ValueError, match="preprocessing.rules.outlier_action"):
        apply_rules(_series("S1", "P1", [1.0]), _rules(outlier_action="drop"))


def test_the_rules_leave_the_callers_sorted_panel_as_it_was():
    panel = pd.DataFrame(
        {
            "store_code": ["S1"] * 4,
            "product_code": ["P1"] * 4,
            "week_end_date": pd.date_range("2024-01-07", periods=4, freq="7D"),
            "units": [1.0, 2.0, 0.0, 3.0],
            "is_filled": [False, False, True, False],
        }
    )
    before = panel.copy()
    ruled = apply_rules(panel)
    assert "is_outlier" in ruled and not ruled.empty
    pd.testing.assert_frame_equal(panel, before)  # already sorted: not sorted again, and not changed in place
