"""mlforecast reference for `make bench-forecast`, run in its own environment (.venv-mlforecast: pandas<3).

    python run_reference.py WORKDIR

WORKDIR holds ``panel.parquet`` (unique_id, ds, y, weight and the known-in-advance columns, every week of a
series' span present), ``future.parquet`` (origin, unique_id, ds and the known-in-advance columns of each
origin's forecast weeks: what the project's forecaster saw there) and ``config.json`` (origins, horizons,
lags, rolling windows, exogenous columns, LightGBM parameters). Rows with weight 0 (a store's outage weeks:
their y only carries the last value so that lags exist) are not learnt from. Writes ``predictions.parquet``
(unique_id, ds, origin, horizon, forecast) and ``timings.json`` (wall and CPU seconds of fit + predict per
origin, peak RSS).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean


def week_of_year(dates):
    return np.asarray(pd.DatetimeIndex(dates).isocalendar().week, dtype="int64")


def month(dates):
    return np.asarray(pd.DatetimeIndex(dates).month, dtype="int64")


def main(workdir: Path) -> None:
    # mlforecast warns on every origin that series shorter than lag 52 are dropped (dropna): expected here.
    warnings.filterwarnings("ignore", category=UserWarning, module="mlforecast")
    config = json.loads((workdir / "config.json").read_text())
    panel = pd.read_parquet(workdir / "panel.parquet")
    future = pd.read_parquet(workdir / "future.parquet")
    exog = list(config["exogenous"])
    lgbm_kwargs = dict(config["lightgbm"])
    rounds = int(lgbm_kwargs.pop("n_estimators"))
    predictions, timings, cpu = [], [], []
    for origin_str in config["origins"]:
        origin = pd.Timestamp(origin_str)
        horizon = int(config["horizons"][origin_str])
        started, started_cpu = time.perf_counter(), time.process_time()
        train = panel[panel["ds"] <= origin]
        model = MLForecast(
            models={"lgbm": lgb.LGBMRegressor(n_estimators=rounds, **lgbm_kwargs)},
            freq=config["freq"],
            lags=list(config["lags"]),
            lag_transforms={1: [RollingMean(window_size=int(w)) for w in config["rolling_windows"]]},
            date_features=[week_of_year, month],
            num_threads=1,
        )
        model.fit(train, static_features=[], weight_col="weight")
        ids = sorted(train.loc[train["ds"] == origin, "unique_id"].unique())
        x_df = future.loc[future["origin"] == origin, ["unique_id", "ds", *exog]]
        forecast = model.predict(h=horizon, X_df=x_df, ids=ids)
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        forecast["origin"] = origin
        forecast["horizon"] = ((forecast["ds"] - origin) // pd.Timedelta(weeks=1)).astype("int64")
        predictions.append(forecast.rename(columns={"lgbm": "forecast"}))
        print(f"mlforecast origin {origin.date()}: {timings[-1]:.1f} s", flush=True)
    pd.concat(predictions, ignore_index=True).to_parquet(workdir / "predictions.parquet", index=False)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (workdir / "timings.json").write_text(
        json.dumps({"seconds": timings, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb})
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
