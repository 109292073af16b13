"""The mlforecast reference of `make bench-forecast`: a plain mlforecast LightGBM on the project's panel.

It gets what the project's forecaster gets: the same panel (cells in span; a store's outage weeks carry the
series' last value so its lags are defined, with weight 0 so it does not learn from them: mlforecast refuses
missing targets), the same origins and horizons, the same LightGBM settings and threads, and the same known
inputs of the forecast weeks (``future.parquet``: per origin, the values the project's forecaster saw). It
runs in its own environment (benchmarks/mlforecast, .venv-mlforecast: it needs pandas<3) as a subprocess; data
goes through parquet files in a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.shared_data import PROJECT_ROOT
from sellout.canonical import CALENDAR_INPUTS, SELLOUT_FLAGS
from sellout.config.model_parameters import LightGBMParams
from sellout.pipelines.features.wide import WidePanel, carry_over
from sellout.pipelines.forecasting.model import lgbm_train_params
from sellout.pipelines.forecasting.plan import known_future

REFERENCE_DIR = PROJECT_ROOT / "benchmarks" / "mlforecast"
REFERENCE_PYTHON = PROJECT_ROOT / ".venv-mlforecast" / "bin" / "python"
MLFORECAST_LAGS = [1, 2, 3, 4, 52]
MLFORECAST_WINDOWS = [4, 13]


def run_mlforecast(
    wp: WidePanel,
    origins: list[int],
    horizon: int,
    lightgbm: LightGBMParams,
    known_inputs: str,
    plan_rule: str,
) -> pd.DataFrame:
    """mlforecast's forecasts of the scored origins, with its seconds per origin and peak RSS as attrs."""
    params, rounds = lgbm_train_params(lightgbm)
    last = len(wp.weeks) - 1
    with tempfile.TemporaryDirectory(prefix="sobench-mlf") as tmp:
        work = Path(tmp)
        long_panel, future, exogenous = reference_frames(wp, origins, horizon, known_inputs, plan_rule)
        long_panel.to_parquet(work / "panel.parquet", index=False)
        future.to_parquet(work / "future.parquet", index=False)
        config = {
            "origins": [str(wp.weeks[o].date()) for o in origins],
            "horizons": {str(wp.weeks[o].date()): min(horizon, last - o) for o in origins},
            "freq": "W-" + wp.weeks[0].day_name()[:3].upper(),
            "lags": MLFORECAST_LAGS,
            "rolling_windows": MLFORECAST_WINDOWS,
            "exogenous": exogenous,
            "lightgbm": {**params, "n_estimators": rounds},
        }
        (work / "config.json").write_text(json.dumps(config))
        command = [str(REFERENCE_PYTHON), str(REFERENCE_DIR / "run_reference.py"), str(work)]
        if subprocess.run(command, check=False).returncode != 0:
            raise RuntimeError(f"mlforecast reference failed: {' '.join(command)}")
        predictions = pd.read_parquet(work / "predictions.parquet")
        timings_file = json.loads((work / "timings.json").read_text())
    keys = predictions["unique_id"].str.split("|", n=1, expand=True)
    out = pd.DataFrame(
        {
            "origin_week": pd.to_datetime(predictions["origin"]).astype("datetime64[ns]"),
            "target_week": pd.to_datetime(predictions["ds"]).astype("datetime64[ns]"),
            "horizon": predictions["horizon"].astype("int64"),
            "store_code": keys[0],
            "product_code": keys[1],
            "forecast": np.clip(predictions["forecast"].to_numpy(dtype="float64"), 0.0, None),
        }
    )
    out.attrs["seconds_per_origin"] = float(np.mean(timings_file["seconds"]))
    out.attrs["cpu_seconds_per_origin"] = float(np.mean(timings_file["cpu_seconds"]))
    out.attrs["peak_rss_mb"] = float(timings_file["peak_rss_mb"])
    return out


def _inputs(wp: WidePanel) -> dict[str, np.ndarray]:
    """The known-input columns of the panel as they stand (prices carried forward, flags 0 where unknown)."""
    price = pd.DataFrame(wp.exog["price"]).ffill(axis=1).to_numpy()
    base = pd.DataFrame(wp.exog["base_price"]).ffill(axis=1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.clip(1.0 - price / np.where(base > 0, base, np.nan), 0.0, None)
    flags = {f: np.nan_to_num(wp.exog[f], nan=0.0) for f in SELLOUT_FLAGS}
    calendar = {c: np.nan_to_num(wp.exog[c], nan=0.0) for c in CALENDAR_INPUTS}
    return {"price": price, "base_price": base, "discount_depth": np.nan_to_num(depth), **flags, **calendar}


def _informative(wp: WidePanel) -> list[str]:
    """The known inputs the panel has: a column that is empty or constant says nothing."""
    names = []
    for name, values in _inputs(wp).items():
        inside = values[wp.in_span]
        inside = inside[~np.isnan(inside)]
        if len(inside) and inside.min() != inside.max():
            names.append(name)
    return names


def reference_frames(
    wp: WidePanel, origins: list[int], horizon: int, known_inputs: str, plan_rule: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """mlforecast's panel (cells in span; outage weeks carried over, weight 0), the forecast weeks' known
    inputs per origin (what the project's forecaster saw there: plan.known_future), and their names."""
    ids = (wp.series["store_code"] + "|" + wp.series["product_code"]).to_numpy()
    names = _informative(wp)
    rows, cols = np.nonzero(wp.in_span)
    units = carry_over(wp.units, wp.outage)
    panel = pd.DataFrame({"unique_id": ids[rows], "ds": wp.weeks[cols], "y": units[rows, cols]})
    panel["weight"] = np.where(np.isnan(wp.units[rows, cols]), 0.0, 1.0)
    panel["y"] = panel["y"].fillna(0.0)  # an outage before any week with data (never scored)
    actual = _inputs(wp)
    for name in names:
        panel[name] = actual[name][rows, cols]
    last = len(wp.weeks) - 1
    future = []
    for origin in origins:
        steps = min(horizon, last - origin)
        live = np.flatnonzero(wp.in_span[:, origin])
        weeks = slice(origin + 1, origin + steps + 1)
        with known_future(wp, origin, steps, [(live, known_inputs)], None, plan_rule):
            seen = _inputs(wp)
        # past the end of a series' span the actual weeks have no values: the rule stands in there
        with known_future(wp, origin, steps, [(live, "rule")], None, plan_rule):
            rule = _inputs(wp)
        in_span = wp.in_span[live, weeks]
        frame = pd.DataFrame(
            {
                "origin": wp.weeks[origin],
                "unique_id": np.repeat(ids[live], steps),
                "ds": np.tile(wp.weeks[weeks], len(live)),
            }
        )
        for name in names:
            frame[name] = np.where(in_span, seen[name][live, weeks], rule[name][live, weeks]).reshape(-1)
        future.append(frame)
    return panel, pd.concat(future, ignore_index=True), names
