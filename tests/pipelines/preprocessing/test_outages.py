"""Outages: a store-week without any row between weeks the store delivered is not zero sales."""

import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.preprocessing.nodes import build_model_panel, summarize_model_panel

OK = {"success": True}
WEEKS = pd.date_range("2024-01-03", periods=20, freq="7D")


def _rows(store, product, weeks, units=5.0, source="shop"):
    return pd.DataFrame(
        {
            "week_end_date": weeks,
            "store_code": store,
            "product_code": product,
            "units": units,
            "source": source,
        }
    )


@pytest.fixture
def mart():
    out_weeks = WEEKS.delete([6, 7, 8])  # store A delivers nothing in weeks 6-8
    return pd.concat(
        [
            _rows("A", "P1", out_weeks),
            _rows("A", "P2", out_weeks.delete([2])),  # P2 alone misses week 2: a zero sale
            _rows("B", "P1", WEEKS[:15]),  # B stops after week 14: its span ends, no outage
            _rows("B", "P2", WEEKS[:15].delete([10])),
        ],
        ignore_index=True,
    )


def _one(panel, store, product):
    return panel[(panel["store_code"] == store) & (panel["product_code"] == product)].set_index(
        "week_end_date"
    )


def test_a_store_week_without_any_row_between_deliveries_is_an_outage(mart):
    panel = build_model_panel(mart, OK, {})
    outages = panel.loc[panel["is_outage"], ["store_code", "week_end_date"]].drop_duplicates()
    assert outages["store_code"].tolist() == ["A"] * 3
    assert list(outages["week_end_date"]) == list(WEEKS[6:9])


def test_outage_weeks_have_no_target_a_products_missing_week_is_zero(mart):
    panel = build_model_panel(mart, OK, {})
    a1, a2 = _one(panel, "A", "P1"), _one(panel, "A", "P2")
    for s in (a1, a2):
        assert s.loc[WEEKS[6:9], "is_outage"].all() and s.loc[WEEKS[6:9], "units"].isna().all()
        assert s.loc[WEEKS[6:9], "units_for_training"].isna().all()
        assert s["is_outage"].sum() == 3
    assert a2.loc[WEEKS[2], "units"] == 0.0 and not a2.loc[WEEKS[2], "is_outage"]
    b2 = _one(panel, "B", "P2")
    assert b2.loc[WEEKS[10], "units"] == 0.0 and not b2["is_outage"].any()
    assert _one(panel, "B", "P1").index.max() == WEEKS[14]


def test_the_rule_can_be_turned_off(mart):
    panel = build_model_panel(mart, OK, {"outages": {"detect": "off"}})
    assert not panel["is_outage"].any()
    assert (_one(panel, "A", "P1").loc[WEEKS[6:9], "units"] == 0.0).all()


def test_a_store_with_rows_of_a_short_series_only_is_not_out(mart):
    # C's second product has a row in week 4 only: the panel drops that series, but the store delivered.
    extra = pd.concat([_rows("C", "P1", WEEKS.delete([4])), _rows("C", "P9", WEEKS[[4]])], ignore_index=True)
    panel = build_model_panel(pd.concat([mart, extra], ignore_index=True), OK, {})
    c1 = _one(panel, "C", "P1")
    assert c1.loc[WEEKS[4], "units"] == 0.0 and not c1["is_outage"].any()


def test_the_status_counts_outage_weeks_per_source(mart):
    other = _rows("Z", "P1", WEEKS.delete([3]), source="other")
    weekly = pd.concat([mart, other], ignore_index=True)
    status = summarize_model_panel(weekly, build_model_panel(weekly, OK, {}))
    assert status["outage_weeks"] == 4
    assert status["sources"]["shop"]["outage_weeks"] == 3 and status["sources"]["shop"]["outage_cells"] == 6
    assert status["sources"]["other"] == {
        "measure": "units",
        "series": 1,
        "weeks": 20,
        "outage_weeks": 1,
        "outage_cells": 1,
        "incomplete_weeks": 0,
    }
    assert np.isnan(build_model_panel(weekly, OK, {}).query("store_code == 'Z'")["units"]).sum() == 1
