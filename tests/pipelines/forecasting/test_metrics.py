"""The metrics table and ``score`` add up per-key sums: each row is what scoring its cells directly gives."""

import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.forecasting.backtest import score
from sellout.pipelines.forecasting.metrics import ALL, KEYS, backtest_metrics_table


@pytest.fixture
def cells():
    rng = np.random.default_rng(3)
    n = 5000
    frame = pd.DataFrame(
        {
            "horizon": rng.integers(1, 5, n),
            "category": rng.choice(["dairy", "snacks", None], n),  # a product without master data
            "measure": rng.choice(["units", "sales_value"], n),
            "promoted": rng.random(n) < 0.3,
            "method": rng.choice(["lightgbm", "naive"], n),
            "forecast": rng.gamma(2.0, 3.0, n),
            "actual": rng.integers(0, 12, n).astype("float64"),
            "scale": rng.choice([0.0, np.nan, 1.5, 2.5], n),  # no MASE where the scale is 0 or unknown
        }
    )
    return frame


def _direct(cells, by):
    """WAPE, bias, MASE (mean over cells with a scale above 0) and the cell count of each group of ``by``."""
    c = cells.assign(
        err=cells["forecast"] - cells["actual"], abs_err=(cells["forecast"] - cells["actual"]).abs()
    )
    c["scaled"] = c["abs_err"] / c["scale"].where(c["scale"] > 0)
    agg = (
        c.groupby(by, sort=True, observed=True)
        .agg(
            abs_err=("abs_err", "sum"),
            err=("err", "sum"),
            actual=("actual", "sum"),
            mase=("scaled", "mean"),
            n_cells=("err", "size"),
        )
        .reset_index()
    )
    denom = agg["actual"].where(agg["actual"] > 0)
    agg["wape"] = agg["abs_err"] / denom
    agg["bias"] = agg["err"] / denom
    return agg[[*by, "wape", "bias", "mase", "n_cells", "actual"]]


def _scored_directly(cells):
    """Each kind of row scored from the cells themselves."""
    everything = cells.assign(segment=ALL, category=ALL)
    by_promotion = everything.assign(segment=cells["promoted"].map({True: "promoted", False: "not_promoted"}))
    kinds = [
        cells.assign(segment=ALL),
        everything,
        cells.assign(segment=ALL, horizon=0),
        everything.assign(horizon=0),
        by_promotion,
        by_promotion.assign(horizon=0),
    ]
    return pd.concat([_direct(kind, KEYS) for kind in kinds], ignore_index=True).drop(columns="actual")


def test_every_row_is_its_cells_scored_directly(cells):
    table = backtest_metrics_table(cells)
    expected = _scored_directly(cells)
    pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=1e-9)
    everything = table[(table["category"] == ALL) & (table["horizon"] == 0) & (table["segment"] == ALL)]
    assert everything["n_cells"].sum() == len(cells)  # the cells without a category count in 'ALL'


def test_a_group_without_actual_units_has_no_wape(cells):
    cells.loc[cells["category"] == "dairy", "actual"] = 0.0
    table = backtest_metrics_table(cells)
    dairy = table[table["category"] == "dairy"]
    assert dairy["wape"].isna().all() and dairy["bias"].isna().all() and (dairy["n_cells"] > 0).all()


def test_score_is_its_cells_scored_directly(cells):
    by = ["method", "promoted"]
    pd.testing.assert_frame_equal(score(cells, by), _direct(cells, by), check_exact=False, rtol=1e-9)
