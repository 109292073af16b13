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
    for flag in ("feature", "display", "tpr_only"):
        values = (rng.random((n, n_weeks)) < 0.2).astype("float64")
        values[rng.random((n, n_weeks)) < 0.05] = np.nan
        exog[flag] = values
    weeks = pd.date_range("2023-11-01", periods=n_weeks, freq="7D")
    return WidePanel(series=series, weeks=weeks, units=units, exog=exog, in_span=in_span)


@st.composite
def feature_params(draw):
    lags = sorted({1, *draw(st.lists(st.integers(2, 60), max_size=3))})
    windows = draw(st.lists(st.integers(2, 60), min_size=1, max_size=3))
    std_windows = draw(st.lists(st.integers(2, 30), max_size=2))
    return FeatureParams(lags=lags, rolling_windows=windows, rolling_std_windows=std_windows, exclude=[])


def assert_same_feature(name: str, full: np.ndarray, one_week: np.ndarray, rtol: float = 1e-7) -> None:
    # A sum over a window and a difference of running sums round differently in the last bits (more so in a
    # standard deviation's cancellation); missing and infinite values must match exactly.
    np.testing.assert_allclose(one_week, full, rtol=rtol, atol=1e-9, equal_nan=True, err_msg=name)


def some_weeks(rng: np.random.Generator, n_weeks: int) -> list[int]:
    """The first weeks, the last one and a few in between: where windows are cut short and where not."""
    return sorted({0, 1, n_weeks - 1, *rng.integers(0, n_weeks, 5).tolist()} & set(range(n_weeks)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_weeks=st.integers(1, 80), params=feature_params())
def test_one_week_formula_equals_the_every_week_formula(seed, n_weeks, params):
    rng = np.random.default_rng(seed)
    panel = random_panel(rng, n_weeks)
    engine = FeatureEngine.fit(panel, params, PromotionParams(price_cut=0.05))
    full = engine.matrices(panel, every_feature=True)
    inputs = engine.inputs(panel)
    for transform in transforms(params):
        for t in some_weeks(rng, n_weeks):
            assert_same_feature(transform.name, full[transform.name][:, t], transform.at(inputs, t))


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
        one_week = engine.step(engine.inputs(window), t - start, rows)
        for j, name in enumerate(engine.columns):
            expected = full[name][:, t].astype(
                "float32"
            )  # the model matrix is float32: one ulp apart at most
            assert_same_feature(f"{name} at week {t}", expected, one_week[:, j], rtol=2.5e-7)
