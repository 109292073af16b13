"""Synthetic model panels for the preprocessing / features / forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sellout.config.model_parameters import ForecastingParams
from sellout.pipelines.features.nodes import build_model_features
from sellout.pipelines.forecasting.segments import SourceTrainings


def promo_panel(n_weeks: int = 60, stores=("S1", "S2"), products=("P1", "P2"), seed: int = 0) -> pd.DataFrame:
    """Weekly units of stores x products (Wednesdays), promoted weeks (feature, price 1.5 vs 2.0) sell 4x."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2023-01-04", periods=n_weeks, freq="7D")
    frames = []
    for s_i, store in enumerate(stores):
        for p_i, product in enumerate(products):
            promo = rng.random(n_weeks) < 0.3
            season = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(n_weeks) / 52 + p_i)
            level = 10.0 * (1 + s_i) * (1 + 0.5 * p_i) * season
            frames.append(
                pd.DataFrame(
                    {
                        "store_code": store,
                        "product_code": product,
                        "category": f"C{p_i % 2 + 1}",
                        "segment": "MAINSTREAM" if s_i % 2 == 0 else "UPSCALE",
                        "week_end_date": weeks,
                        "units": rng.poisson(np.where(promo, 4.0, 1.0) * level).astype(float),
                        "sales_value": np.nan,
                        "price": np.where(promo, 1.5, 2.0),
                        "base_price": 2.0,
                        "feature": promo,
                        "display": False,
                        "tpr_only": False,
                        "is_filled": False,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def closed_days_panel(n_weeks: int = 60, stores=("S1", "S2"), products=("P1", "P2")) -> pd.DataFrame:
    """``promo_panel`` as a daily feed's weeks: closed 1 day a week, 2 every tenth week (a holiday), store S1
    closed throughout week 20; units in proportion to the open days."""
    panel = promo_panel(n_weeks, stores, products)
    week = ((panel["week_end_date"] - panel["week_end_date"].min()).dt.days // 7).to_numpy()
    closed = np.where(week % 10 == 3, 2.0, 1.0)
    closed[(week == 20) & (panel["store_code"] == "S1").to_numpy()] = 7.0
    panel["days_closed"] = closed
    panel["units"] = panel["units"] * (7.0 - closed) / 6.0
    return panel


def feature_set(panel: pd.DataFrame, features: dict | None = None, price_cut: float = 0.05):
    """The features stage's output for ``panel`` (what the forecasting nodes read)."""
    return build_model_features(panel, features, {"price_cut": price_cut})


def source_trainings(features, params: dict | None = None, settings: dict | None = None):
    """Each source's training set with the default settings (or ``settings``, the model_settings record)."""
    return SourceTrainings(features, ForecastingParams.of(params or {}), settings or {})


def with_outage(panel: pd.DataFrame, store: str, weeks) -> pd.DataFrame:
    """``panel`` (a preprocessed model panel) with every series of ``store`` out in ``weeks``: no data."""
    out = panel.copy()
    hit = (out["store_code"] == store) & out["week_end_date"].isin(list(weeks))
    out["is_outage"] = out.get("is_outage", False) | hit
    out.loc[hit, "units"] = np.nan
    return out
