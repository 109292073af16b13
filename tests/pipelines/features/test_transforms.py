"""Each feature's one-week formula (the recursive forecast's) equals its every-week formula (training's), on
random panels with gaps, missing values and odd prices, from a window as short as the engine keeps."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sellout.config.model_parameters import FeatureParams
from sellout.config.parameters import PromotionParams
from sellout.pipelines.features.engine import FeatureEngine
from sellout.pipelines.features.transforms import transforms
from sellout.pipelines.features.wide import WidePanel


def random_panel(rng: np.random.Generator, n_weeks: int) -> WidePanel:
    """Series of 2 stores x 3 products with random spans, missing units inside them, missing or zero prices."""
    keys = [(s, p) for s in ("S1", "S2") for p in ("P1", "P2", "P3")]
    n = len(keys)
    series = pd.DataFrame(keys, columns=["store_code", "product_code"])
    series["category"] = ["C1" if p != "P3" else "C2" for _, p in keys]
    series["manufacturer"] = "M"
    series["segment"] = ["A" if s == "S1" else "B" for s, _ in keys]
    series["sales_area"] = [1000.0 if s == "S1" else np.nan for s, _ in keys]
    first = rng.integers(0, n_weeks, n)
    last = np.minimum(first + rng.integers(0, n_weeks, n), n_weeks - 1)
    cols = np.arange(n_weeks)[None, :]
    in_span = (cols >= first[:, None]) & (cols <= last[:, None])
    units = np.where(in_span, rng.gamma(2.0, 5.0, (n, n_weeks)), np.nan)
    units[rng.random((n, n_weeks)) < 0.1] = np.nan
    base = np.where(rng.random((n, n_weeks)) < 0.05, 0.0, 2.0)
    price = np.where(rng.random((n, n_weeks)) < 0.3, base * rng.uniform(0.6, 1.0, (n, n_weeks)), base)
    price[rng.random((n, n_weeks)) < 0.05] = np.nan
    exog = {"price": price, "base_price": base}
    for flag in ("feature", "display", "tpr_only", "promotion"):
        values = (rng.random((n, n_weeks)) < 0.2).astype("float64")
        values[rng.random((n, n_weeks)) < 0.05] = np.nan
        exog[flag] = values
    exog["days_closed"] = np.where(in_span, rng.integers(0, 3, (n, n_weeks)), np.nan)
    # store S2 delivers nothing for a few weeks: an outage of all its series
    outage = np.zeros((n, n_weeks), dtype=bool)
    out_weeks = rng.integers(0, n_weeks, 2)
    outage[3:, out_weeks.min() : out_weeks.max() + 1] = True
    outage &= in_span
    units[outage] = np.nan
    weeks = pd.date_range("2023-11-01", periods=n_weeks, freq="7D")
    return WidePanel(series=series, weeks=weeks, units=units, exog=exog, in_span=in_span, outage=outage)


@st.composite
def feature_params(draw):
    lags = sorted({1, *draw(st.lists(st.integers(2, 60), max_size=3))})
    windows = draw(st.lists(st.integers(2, 60), min_size=1, max_size=3))
    std_windows = draw(st.lists(st.integers(2, 30), max_size=2))
    across = draw(st.sampled_from(["carry", "skip"]))
    return FeatureParams(
        lags=lags, rolling_windows=windows, rolling_std_windows=std_windows, exclude=[], across_outages=across
    )


def assert_same_feature(name: str, full: np.ndarray, one_week: np.ndarray, rtol: float = 1e-7) -> None:
    # A sum over a window and a difference of running sums round differently in the last bits (more so in a
    # standard deviation's cancellation); missing and infinite values must match exactly.
    np.testing.assert_allclose(one_week, full, rtol=rtol, atol=1e-9, equal_nan=True, err_msg=name)


def some_weeks(rng: np.random.Generator, n_weeks: int) -> list[int]:
    """The first weeks, the last one and a few in between: where windows are cut short and where not."""
    return sorted({0, 1, n_weeks - 1, *rng.integers(0, n_weeks, 5).tolist()} & set(range(n_weeks)))


def _random_inputs(seed: int, n_weeks: int, params: FeatureParams):
    """A random panel of ``n_weeks``, its engine and the inputs its features read (and the generator)."""
    rng = np.random.default_rng(seed)
    panel = random_panel(rng, n_weeks)
    engine = FeatureEngine.fit(panel, params, PromotionParams(price_cut=0.05))
    return rng, panel, engine, engine.inputs(panel)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_weeks=st.integers(1, 80), params=feature_params())
def test_one_week_formula_equals_the_every_week_formula(seed, n_weeks, params):
    rng, panel, engine, inputs = _random_inputs(seed, n_weeks, params)
    full = engine.matrices(panel, every_feature=True)
    for transform in transforms(params):
        for t in some_weeks(rng, n_weeks):
            assert_same_feature(transform.name, full[transform.name][:, t], transform.at(inputs, t))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_weeks=st.integers(1, 80), params=feature_params())
def test_a_feature_not_marked_cross_series_is_the_same_on_its_series_rows_alone(seed, n_weeks, params):
    rng, panel, _, inputs = _random_inputs(seed, n_weeks, params)
    rows = rng.permutation(panel.n_series)[: rng.integers(1, panel.n_series + 1)]  # some rows, in any order
    alone = inputs.of_rows(rows)
    for transform in transforms(params):
        if transform.cross_series:
            continue
        for t in some_weeks(rng, n_weeks):
            np.testing.assert_array_equal(
                transform.at(alone, t), transform.at(inputs, t)[rows], transform.name
            )


def test_the_cross_series_features_read_other_series():
    rng = np.random.default_rng(7)
    panel = random_panel(rng, 60)
    params = FeatureParams()
    inputs = FeatureEngine.fit(panel, params, PromotionParams()).inputs(panel)
    rows = np.array([0, 4])  # S1's first product and S2's second: no product or store category in common
    alone = inputs.of_rows(rows)
    marked = [t for t in transforms(params) if t.cross_series]
    assert marked
    for transform in marked:
        differs = [
            not np.array_equal(transform.at(alone, t), transform.at(inputs, t)[rows], equal_nan=True)
            for t in range(1, 60)
        ]
        assert any(differs), transform.name


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_weeks=st.integers(2, 90), params=feature_params())
def test_the_kept_history_is_enough_for_every_model_feature(seed, n_weeks, params):
    rng = np.random.default_rng(seed)
    panel = random_panel(rng, n_weeks)
    engine = FeatureEngine.fit(panel, params, PromotionParams())
    full = engine.matrices(panel)
    keep = engine.history_weeks
    rows = np.arange(panel.n_series)
    for t in some_weeks(rng, n_weeks):
        start = max(t - keep, 0)
        window = panel.window(start, t + 1)
        # as the forecast window does: outages carried over on the whole history, then the kept weeks
        units = engine.feature_units(panel.window(0, t + 1))[:, start:]
        one_week = engine.step(engine.inputs(window, units.copy()), t - start, rows)
        for j, name in enumerate(engine.columns):
            expected = full[name][:, t].astype(
                "float32"
            )  # the model matrix is float32: one ulp apart at most
            assert_same_feature(f"{name} at week {t}", expected, one_week[:, j], rtol=2.5e-7)


def _small_panel(units: np.ndarray, outage: np.ndarray | None = None, **exog) -> WidePanel:
    n, w = units.shape
    series = pd.DataFrame({"store_code": "S1", "product_code": [f"P{i}" for i in range(n)], "category": "C1"})
    full_exog = {"price": np.full((n, w), 2.0), "base_price": np.full((n, w), 2.0)}
    for flag in ("feature", "display", "tpr_only"):
        full_exog[flag] = np.zeros((n, w))
    full_exog.update(exog)
    weeks = pd.date_range("2024-01-03", periods=w, freq="7D")
    in_span = np.ones((n, w), dtype=bool)
    return WidePanel(series=series, weeks=weeks, units=units, exog=full_exog, in_span=in_span, outage=outage)


def test_lags_and_rolling_means_across_an_outage_follow_the_stated_rule():
    units = np.array([[4.0, 6.0, np.nan, np.nan, 8.0, 10.0]])
    outage = np.isnan(units)
    panel = _small_panel(units, outage)
    params = {"lags": [1, 2], "rolling_windows": [3], "rolling_std_windows": [], "exclude": []}
    carry = FeatureEngine.fit(panel, FeatureParams(**params), PromotionParams()).matrices(panel)
    # carry: an outage week reads as the last week before it (6)
    np.testing.assert_allclose(carry["lag_1"][0], [np.nan, 4, 6, 6, 6, 8])
    np.testing.assert_allclose(carry["lag_2"][0, 4:], [6, 6])
    np.testing.assert_allclose(carry["roll_mean_3"][0, 3:], [16 / 3, 6, 20 / 3])
    skip = FeatureEngine.fit(panel, FeatureParams(**params, across_outages="skip"), PromotionParams())
    skipped = skip.matrices(panel)
    # skip: an outage week has no value; a rolling mean averages the weeks with data
    np.testing.assert_allclose(skipped["lag_1"][0], [np.nan, 4, 6, np.nan, np.nan, 8])
    np.testing.assert_allclose(skipped["roll_mean_3"][0, 3:], [5, 6, 8])
    assert np.isnan(panel.units[outage]).all()  # the target stays missing either way


def test_promotion_history_and_the_store_category_share_on_promotion():
    promo = np.array([[0, 1, 0, 0, 0, 1, 0], [0, 0, 0, 1, 0, 1, 1]], dtype="float64")
    units = np.full(promo.shape, 5.0)
    panel = _small_panel(units, promotion=promo)
    engine = FeatureEngine.fit(panel, FeatureParams(exclude=[]), PromotionParams())
    m = engine.matrices(panel)
    np.testing.assert_allclose(m["weeks_since_promo"][0], [52, 52, 1, 2, 3, 4, 1])
    np.testing.assert_allclose(m["promo_frequency_52"][0, 1:], [0, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 2 / 6])
    np.testing.assert_allclose(m["store_category_promo_share"][0], [0, 0.5, 0, 0.5, 0, 1, 0.5])
    np.testing.assert_allclose(m["promotion"][1], promo[1])
    assert {"promotion", "discount_depth", "store_category_promo_share", "days_closed"} <= set(
        engine.params.model_columns()
    )
    # where no plan is delivered the model leaves out week t's plan, and how long ago the weeks just before it
    # were promoted (at a forecast's second week, a forecast week the rule says was not); rates, levels and lags
    # stay
    assert {"promotion", "discount_depth", "store_category_promo_share", "days_closed"} <= set(
        engine.plan_columns
    )
    assert {"weeks_since_promo", "promo_any_lag_1", "price_ratio_lag_1"} <= set(engine.plan_columns)
    assert not {"lag_1", "promo_frequency_52", "base_units_13", "promo_units_26", "week_of_year"} & set(
        engine.plan_columns
    )


def test_a_derived_price_cut_is_a_promotion_and_its_depth():
    price = np.array([[2.0, 1.5, 2.0]])
    panel = _small_panel(np.full((1, 3), 5.0), price=price)
    m = FeatureEngine.fit(panel, FeatureParams(exclude=[]), PromotionParams()).matrices(panel)
    np.testing.assert_allclose(m["discount_depth"][0], [0, 0.25, 0])
    np.testing.assert_allclose(m["weeks_since_promo"][0], [52, 52, 1])


def test_the_season_ratio_is_last_years_week_against_the_13_weeks_before_it():
    units = np.full((2, 80), 10.0)
    units[0, 20] = 40.0  # a seasonal peak in week 20
    units[1] = 0.0  # a series that sells nothing
    panel = _small_panel(units)
    ratio = FeatureEngine.fit(panel, FeatureParams(exclude=[]), PromotionParams()).matrices(panel)[
        "season_ratio_52"
    ]
    assert np.isnan(ratio[:, :52]).all()  # no week a year back
    assert ratio[0, 72] == (40.0 + 1.0) / (10.0 + 1.0)  # a year after the peak: 40 against 10 before it
    assert ratio[0, 73] == (10.0 + 1.0) / ((12 * 10.0 + 40.0) / 13 + 1.0)  # the peak is in the 13 weeks now
    assert ratio[0, 71] == 1.0
    np.testing.assert_array_equal(ratio[1, 53:], 1.0)  # no sales, no season
