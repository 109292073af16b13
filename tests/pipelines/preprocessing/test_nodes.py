"""Tests of the preprocessing pipeline: sellout_weekly -> model_panel."""

import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.preprocessing import create_pipeline
from sellout.pipelines.preprocessing.nodes import PANEL_COLUMNS, build_model_panel, summarize_model_panel

OK = {"success": True, "run_id": "dbt-1", "tests": 12, "failures": 0}
WEEKS = pd.date_range("2024-01-06", periods=30, freq="7D")  # Saturdays


def _series(store, product, weeks, *, units=10.0, base_price=2.0, category="snacks"):
    n = len(weeks)
    return pd.DataFrame(
        {
            "week_end_date": weeks,
            "store_code": store,
            "product_code": product,
            "category": category,
            "units": np.full(n, units, dtype="float64"),
            "sales_value": np.full(n, units * base_price),
            "price": np.full(n, base_price),
            "base_price": np.full(n, base_price),
            "feature": pd.array([True] * n, dtype="boolean"),
            "display": pd.array([False] * n, dtype="boolean"),
            "tpr_only": pd.array([False] * n, dtype="boolean"),
        }
    )


@pytest.fixture
def raw():
    full = _series("S1", "P1", WEEKS)
    # price changes at week 9 then the series has a gap (weeks 10, 11: no rows)
    full.loc[9, "price"] = 1.5
    full.loc[12, "price"] = np.nan  # observed row with an unknown price
    gappy = full.drop(index=[10, 11])
    late = _series("S1", "P2", WEEKS[5:20], units=3.0, base_price=4.0, category=None)
    late.loc[late.index[0], ["price", "base_price"]] = np.nan  # leading NaN price: back-filled
    short = _series("S2", "P1", WEEKS[:5])  # 5 observed weeks only
    sparse = _series("S2", "P2", WEEKS[[0, 20]])  # span of 21 weeks but only 2 observations
    return pd.concat([gappy, late, short, sparse], ignore_index=True)


def _one(panel, store, product):
    return panel[(panel["store_code"] == store) & (panel["product_code"] == product)].set_index(
        "week_end_date"
    )


def test_grid_is_complete_inside_span_and_zero_filled(raw):
    panel = build_model_panel(raw, OK, {"min_weeks_history": 8})
    s = _one(panel, "S1", "P1")
    assert list(s.index) == list(WEEKS)
    assert s.loc[WEEKS[10], "units"] == 0.0 and s.loc[WEEKS[11], "units"] == 0.0
    assert s.loc[WEEKS[10], "sales_value"] == 0.0
    assert s["is_filled"].sum() == 2
    assert bool(s.loc[WEEKS[10], "is_filled"]) and not bool(s.loc[WEEKS[9], "is_filled"])
    assert s.loc[WEEKS[9], "units"] == 10.0


def test_no_rows_outside_series_span(raw):
    panel = build_model_panel(raw, OK, {"min_weeks_history": 8})
    late = _one(panel, "S1", "P2")
    assert late.index.min() == WEEKS[5] and late.index.max() == WEEKS[19]
    assert len(late) == 15 and not late["is_filled"].any()


def test_prices_forward_then_back_filled_within_series(raw):
    panel = build_model_panel(raw, OK, {"min_weeks_history": 8})
    s = _one(panel, "S1", "P1")
    assert s.loc[WEEKS[10], "price"] == 1.5  # carried from week 9 into the gap
    assert s.loc[WEEKS[11], "price"] == 1.5
    assert s.loc[WEEKS[12], "price"] == 2.0  # no price delivered: sales value / units
    assert s.loc[WEEKS[13], "price"] == 2.0
    assert s.loc[WEEKS[10], "base_price"] == 2.0
    late = _one(panel, "S1", "P2")
    assert late.loc[WEEKS[5], "price"] == 4.0 and late.loc[WEEKS[5], "base_price"] == 4.0
    assert panel["price"].notna().all()


def test_promo_flags_false_where_missing(raw):
    panel = build_model_panel(raw, OK, {"min_weeks_history": 8})
    s = _one(panel, "S1", "P1")
    assert s["feature"].dtype == bool
    assert not s.loc[WEEKS[10], "feature"] and s.loc[WEEKS[9], "feature"]


def test_min_weeks_history_counts_observed_weeks(raw):
    panel = build_model_panel(raw, OK, {"min_weeks_history": 8})
    series = set(panel["series_id"].unique())
    assert series == {"S1|P1", "S1|P2"}  # 5-week and 2-observation series dropped
    panel5 = build_model_panel(raw, OK, {"min_weeks_history": 5})
    assert set(panel5["series_id"].unique()) == {"S1|P1", "S1|P2", "S2|P1"}
    panel2 = build_model_panel(raw, OK, {"min_weeks_history": 2})
    assert len(_one(panel2, "S2", "P2")) == 21  # the sparse series' whole span, 19 weeks zero-filled
    assert _one(panel2, "S2", "P2")["is_filled"].sum() == 19


def test_default_min_weeks_is_8(raw):
    assert set(build_model_panel(raw, OK, {})["series_id"]) == {"S1|P1", "S1|P2"}
    assert set(build_model_panel(raw, OK, None)["series_id"]) == {"S1|P1", "S1|P2"}


def test_columns_dtypes_order_and_category(raw):
    panel = build_model_panel(raw, OK, {"min_weeks_history": 8})
    assert list(panel.columns) == PANEL_COLUMNS
    assert panel["week_end_date"].dtype == "datetime64[ns]"
    assert panel["units"].dtype == "float64"
    for text in ("store_code", "series_id", "source", "category"):  # one code per row, the text once
        assert (
            isinstance(panel[text].dtype, pd.CategoricalDtype) and panel[text].cat.categories.dtype == "str"
        )
    assert panel["is_filled"].dtype == bool
    assert (panel.loc[panel["series_id"] == "S1|P1", "category"] == "snacks").all()  # also on filled rows
    assert panel.loc[panel["series_id"] == "S1|P2", "category"].isna().all()
    keys = ["store_code", "product_code", "week_end_date"]
    assert panel.equals(panel.sort_values(keys, ignore_index=True))
    assert not panel.duplicated(keys).any()


def test_negative_units_clipped_unless_disabled(raw):
    raw.loc[0, "units"] = -3.0
    assert build_model_panel(raw, OK, {})["units"].min() == 0.0
    assert build_model_panel(raw, OK, {"clip_negative_units": False})["units"].min() == -3.0


@pytest.mark.parametrize("status", [{"success": False, "run_id": "x", "failures": 2}, {}, None])
def test_raises_when_dbt_tests_failed(raw, status):
    with pytest.raises(RuntimeError, match="dbt tests did not pass"):
        build_model_panel(raw, status, {})


def test_rejects_mixed_weekdays_and_duplicates(raw):
    shifted = raw.copy()
    shifted.loc[0, "week_end_date"] = shifted.loc[0, "week_end_date"] + pd.Timedelta(days=1)
    with pytest.raises(ValueError, match="one weekday"):
        build_model_panel(shifted, OK, {})
    with pytest.raises(ValueError, match="duplicate"):
        build_model_panel(pd.concat([raw, raw.iloc[[0]]]), OK, {})


def test_empty_panel_when_nothing_qualifies(raw, caplog):
    panel = build_model_panel(raw, OK, {"min_weeks_history": 1000})
    assert panel.empty and list(panel.columns) == PANEL_COLUMNS
    longest = raw.groupby(["store_code", "product_code"]).size().max()
    assert (
        f"No series has 1000 weeks of sales yet (preprocessing.min_weeks_history); the longest has {longest}"
        in caplog.text
    )


def test_pipeline_wiring():
    pipe = create_pipeline()
    n, summary = sorted(pipe.nodes, key=lambda node: node.name)
    assert (summary.name, summary.inputs, summary.outputs) == (
        "summarize_model_panel",
        ["incomplete_weeks", "model_panel"],
        ["model_panel_status"],
    )
    assert n.name == "build_model_panel"
    assert n.inputs == [
        "sellout_weekly",
        "dbt_test_status",
        "params:preprocessing",
        "store_attributes",
        "product_attributes",
        "params:promotion",
    ]
    assert n.outputs == ["model_panel"]


def test_store_and_product_attributes_are_joined_once_per_series(raw):
    stores = pd.DataFrame(
        {"store_code": sorted(raw["store_code"].astype(str).unique()), "segment": "UPSCALE", "state": "OH"}
    )
    stores["sales_area"] = [1000.0 * (i + 1) for i in range(len(stores))]
    products = pd.DataFrame(
        {"product_code": sorted(raw["product_code"].astype(str).unique()), "manufacturer": "ACME"}
    )
    panel = build_model_panel(raw, OK, {"min_weeks_history": 1}, stores, products)
    assert (panel["segment"] == "UPSCALE").all() and (panel["manufacturer"] == "ACME").all()
    first_store = stores["store_code"].iloc[0]
    assert (panel.loc[panel["store_code"] == first_store, "sales_area"] == 1000.0).all()
    assert panel["sub_category"].isna().all()  # not given: missing, not an error


def test_attribute_table_with_duplicate_keys_is_refused(raw):
    stores = pd.DataFrame({"store_code": ["X", "X"], "segment": ["A", "B"]})
    with pytest.raises(ValueError, match="duplicate store_code"):
        build_model_panel(raw, OK, {"min_weeks_history": 1}, stores, None)


def test_a_value_only_source_is_forecast_in_sales_value(raw):
    value_only = raw[raw["store_code"] == "S1"].assign(
        units=np.nan, source="shop_v", price=np.nan, base_price=np.nan
    )
    panel = build_model_panel(
        pd.concat([raw.assign(source="shop_u"), value_only.assign(store_code="V1")]), OK, {}
    )
    by_measure = panel.groupby("source")["measure"].unique().to_dict()
    assert {k: list(v) for k, v in by_measure.items()} == {"shop_u": ["units"], "shop_v": ["sales_value"]}
    v = _one(panel, "V1", "P1")
    np.testing.assert_array_equal(v["units"], v["sales_value"])  # the quantity forecast is the sales value
    assert v.loc[WEEKS[10], "units"] == 0.0 and v["price"].isna().all()  # no units: no price to derive
    u = _one(panel, "S1", "P1")
    assert u.loc[WEEKS[0], "units"] == 10.0 and u.loc[WEEKS[0], "sales_value"] == 20.0


def test_a_source_in_two_measures_is_refused(raw):
    mixed = raw.assign(source="shop", measure=np.where(raw.index % 2 == 0, "units", "sales_value"))
    with pytest.raises(ValueError, match="more than one measure"):
        build_model_panel(mixed, OK, {})
    with pytest.raises(ValueError, match="unknown measures"):
        build_model_panel(raw.assign(measure="litres"), OK, {})


def test_a_base_price_is_derived_from_recent_unpromoted_prices_where_none_is_delivered(raw):
    s = raw[(raw["store_code"] == "S1") & (raw["product_code"] == "P1")].copy()
    s["base_price"] = np.nan
    s["feature"] = False
    s.loc[s.index[5:7], "feature"] = True
    s.loc[s.index[5:7], "price"] = 1.0  # a deal: half price
    panel = _one(build_model_panel(s, OK, {"base_price_weeks": 4}), "S1", "P1")
    assert panel.loc[WEEKS[5], "base_price"] == 2.0 and panel.loc[WEEKS[6], "price"] == 1.0
    assert panel.loc[WEEKS[9], "base_price"] == 2.0  # price 1.5 at week 9, regular price 2.0 in the window
    assert panel.loc[WEEKS[14], "base_price"] == 2.0
    assert panel["base_price"].notna().all()


def test_a_generic_promotion_flag_and_calendar_inputs_are_kept(raw):
    with_flags = raw.assign(promotion=raw.index % 3 == 0, days_closed=1.0)
    panel = build_model_panel(with_flags, OK, {})
    assert panel["promotion"].dtype == bool and panel["promotion"].any()
    s = _one(panel, "S1", "P1")
    assert s.loc[WEEKS[0], "days_closed"] == 1.0 and np.isnan(s.loc[WEEKS[10], "days_closed"])
    assert not build_model_panel(raw, OK, {})["promotion"].any()


def test_incomplete_weeks_of_a_daily_feed_are_left_out(raw):
    daily = raw.assign(is_complete_week=True)
    daily.loc[(daily["store_code"] == "S1") & (daily["week_end_date"] == WEEKS[3]), "is_complete_week"] = (
        False
    )
    panel = build_model_panel(daily, OK, {})
    s = _one(panel, "S1", "P1")
    assert bool(s.loc[WEEKS[3], "is_outage"]) and np.isnan(s.loc[WEEKS[3], "units"])
    status = summarize_model_panel(daily, panel)
    assert status["sources"]["default"]["incomplete_weeks"] == 1
    assert status["sources"]["default"]["outage_weeks"] == 1 and status["outage_weeks"] == 1


def _as_loaded_categories(frame):
    """Text columns as the mart's load gives them with text_as_category: categoricals whose categories are in
    the order the values first appear (here reversed, so that no order is sorted by chance)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == "str":
            out[column] = pd.Categorical(out[column], categories=out[column].dropna().unique()[::-1])
    return out


def test_a_mart_with_text_as_categories_gives_the_same_panel(raw):
    raw = raw.assign(source=np.where(raw["product_code"] == "P2", None, "shop"))  # a missing source too
    stores = pd.DataFrame({"store_code": ["S2", "S1"], "segment": ["B", "A"], "sales_area": [2.0, 1.0]})
    products = pd.DataFrame({"product_code": ["P1", "P2"], "manufacturer": ["M1", None]})
    plain = build_model_panel(raw, OK, {"min_weeks_history": 1}, stores, products)
    coded = build_model_panel(_as_loaded_categories(raw), OK, {"min_weeks_history": 1}, stores, products)
    pd.testing.assert_frame_equal(coded, plain)
    assert set(coded["source"]) == {"shop", "default"}  # a row without a source is the default source's
    assert set(coded["segment"]) == {"A", "B"} and coded["manufacturer"].isna().any()


@pytest.mark.parametrize("key", ["store_code", "product_code"])
def test_a_row_without_a_key_is_refused_not_dropped(raw, key):
    raw.loc[3, key] = None
    with pytest.raises(ValueError, match=f"1 rows with a null {key}"):
        build_model_panel(raw, OK, {})


def test_the_mart_in_any_row_order_gives_the_same_panel(raw):
    # a series' attribute changes over time: its value is the one of its latest week with a value
    raw.loc[raw["product_code"] == "P1", "category"] = "snacks"
    latest = raw.index[(raw["store_code"] == "S1") & (raw["product_code"] == "P1")][-1]
    raw.loc[latest, "category"] = "cereal"
    raw.loc[raw.index[(raw["store_code"] == "S1") & (raw["product_code"] == "P2")][-1], "category"] = None
    in_order = build_model_panel(raw, OK, {"min_weeks_history": 1})
    shuffled = raw.sample(frac=1.0, random_state=7).reset_index(drop=True)
    pd.testing.assert_frame_equal(build_model_panel(shuffled, OK, {"min_weeks_history": 1}), in_order)
    assert set(_one(in_order, "S1", "P1")["category"]) == {"cereal"}
    assert _one(in_order, "S1", "P2")["category"].isna().all()  # P2 never has a category
