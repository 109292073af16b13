"""`make bench-forecast`: the project's forecaster and mlforecast on the whole dunnhumby set, same protocol.

Protocol (issue 5): units per store x UPC x week, a week with no row inside a series' span = 0 units; 13
rolling origins (the weeks T-13 .. T-1), horizons 1-4 on or before T, WAPE = sum|error| / sum(actual) over all
cells. Prices and promotions of the forecast weeks are known in advance (the actual ones). Both methods use the
LightGBM settings of ``conf/base/parameters_forecasting.yml`` (the same ``num_threads``) and are timed in this
one run, back to back: seconds per origin = fit + forecast of a scored origin, the project's one-off feature
build (pivot, features) charged to its scored origins. The project's forecaster follows its own refit schedule
(``forecasting.refit``: a full fit, then cheap refreshes until it is ``full_every_weeks`` old) exactly as
production runs it week by week; mlforecast fits in full at every origin. Each origin's line says which it was
and how much of its CPU time the recursive forecast took. Wall seconds are what the issue asks for; CPU seconds
are printed beside them because on a shared machine the load moves wall time between the two methods' turns.

The project's forecast is the model's times the level correction, and its P10-P90 interval, both calibrated
as the pipeline does (intervals.py) on the cells of the latest ``--calibration-origins`` origins (the
pipeline's backtest has 13) whose target weeks are on or before the origin (no look-ahead). As many extra
origins before the scored ones give the first scored origins something to calibrate on; they are fitted but
neither timed nor scored. The raw model's WAPE and bias are printed too.

mlforecast runs in its own environment (benchmarks/mlforecast, .venv-mlforecast: it needs pandas<3) as a
subprocess; data goes through parquet files in a temporary folder. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks.forecast_data import load_dunnhumby_panel
from benchmarks.shared_data import PROJECT_ROOT, dunnhumby_dir
from sellout.canonical import PROMO_FLAGS
from sellout.config.model_parameters import ForecastingParams, LightGBMParams
from sellout.config.parameters import PromotionParams
from sellout.pipelines.features.nodes import build_model_features
from sellout.pipelines.features.wide import WidePanel
from sellout.pipelines.forecasting import intervals
from sellout.pipelines.forecasting.backtest import (
    MODEL_METHOD,
    OriginTiming,
    origin_columns,
    run_backtest,
    score,
)
from sellout.pipelines.forecasting.model import lgbm_train_params
from sellout.pipelines.forecasting.training import TrainingSet

REFERENCE_DIR = PROJECT_ROOT / "benchmarks" / "mlforecast"
REFERENCE_PYTHON = PROJECT_ROOT / ".venv-mlforecast" / "bin" / "python"
MLFORECAST_LAGS = [1, 2, 3, 4, 52]
MLFORECAST_WINDOWS = [4, 13]
RAW_METHOD = f"{MODEL_METHOD} (uncorrected)"


def load_parameters() -> tuple[ForecastingParams, dict, PromotionParams]:
    """``forecasting``, ``features`` and ``promotion`` parameters from conf/base (plain YAML, no interpolation)."""
    conf = PROJECT_ROOT / "conf" / "base"
    forecasting = yaml.safe_load((conf / "parameters_forecasting.yml").read_text())["forecasting"]
    features = yaml.safe_load((conf / "parameters_features.yml").read_text())["features"]
    promotion = yaml.safe_load((conf / "parameters.yml").read_text())["promotion"]
    return (
        ForecastingParams.of(forecasting, "forecasting"),
        features,
        PromotionParams.of(promotion, "promotion"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.forecast", description=__doc__)
    parser.add_argument("--origins", type=int, default=13, help="scored rolling origins (default 13)")
    parser.add_argument("--horizon", type=int, default=4, help="scored horizons 1..N (default 4)")
    parser.add_argument(
        "--calibration-origins",
        type=int,
        default=None,
        help="origins the correction and intervals learn from (default: the pipeline's backtest origins)",
    )
    parser.add_argument("--skip-mlforecast", action="store_true", help="only the project's forecaster")
    args = parser.parse_args(argv)

    data_dir = dunnhumby_dir("forecast")
    if data_dir is None:
        return 2
    if not args.skip_mlforecast and not REFERENCE_PYTHON.exists():
        print(
            f"bench-forecast needs the mlforecast environment {REFERENCE_PYTHON}: run "
            "`cd benchmarks/mlforecast && UV_PROJECT_ENVIRONMENT=../../.venv-mlforecast uv sync --frozen`",
            file=sys.stderr,
        )
        return 2

    forecasting, features, promotion = load_parameters()
    lightgbm = forecasting.lightgbm
    if args.calibration_origins is None:
        args.calibration_origins = forecasting.backtest.origins
    panel = load_dunnhumby_panel(data_dir)
    started, started_cpu = time.perf_counter(), time.process_time()
    feature_set = build_model_features(panel, features, promotion)
    training = TrainingSet(feature_set, forecasting.train_weeks, forecasting.target_scale)
    build_s, build_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    wp = feature_set.panel
    scored = origin_columns(wp, args.origins)
    warmup = list(range(scored[0] - args.calibration_origins, scored[0]))
    print(
        f"panel: {wp.n_series} series x {len(wp.weeks)} weeks ({int(wp.in_span.sum())} cells); origins "
        f"{wp.weeks[scored[0]].date()} .. {wp.weeks[scored[-1]].date()}, horizons 1-{args.horizon}",
        flush=True,
    )

    def on_origin(timing: OriginTiming) -> None:
        print(
            f"sellout origin {wp.weeks[timing.origin].date()}: {timing.wall_seconds:.1f} s (cpu "
            f"{timing.cpu_seconds:.1f} s, of which forecast {timing.forecast_cpu_seconds:.2f} s) {timing.kind}",
            flush=True,
        )

    cells, timings = run_backtest(
        wp, training, warmup + scored, args.horizon, lightgbm, on_origin=on_origin, refit=forecasting.refit
    )
    timed = {t.origin: t for t in timings}
    project_seconds = build_s / len(scored) + float(np.mean([timed[o].wall_seconds for o in scored]))
    project_cpu = build_cpu / len(scored) + float(np.mean([timed[o].cpu_seconds for o in scored]))
    forecast_cpu = float(np.mean([timed[o].forecast_cpu_seconds for o in scored]))
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    scored_weeks = set(wp.weeks[scored])
    raw = cells[cells["method"] == MODEL_METHOD].reset_index(drop=True)
    corrected, p10, p90 = time_respecting_calibration(raw, args.calibration_origins)
    in_scope = raw["origin_week"].isin(scored_weeks).to_numpy()
    coverage = intervals.coverage(raw["actual"].to_numpy()[in_scope], p10[in_scope], p90[in_scope])
    model = raw.assign(forecast=corrected)
    scored_cells = pd.concat(
        [cells[cells["method"] != MODEL_METHOD], model, raw.assign(method=RAW_METHOD)], ignore_index=True
    )
    scored_cells = scored_cells[scored_cells["origin_week"].isin(scored_weeks)]
    by_method = score(scored_cells, ["method"]).set_index("method")

    result = {
        "wape": round(float(by_method.loc[MODEL_METHOD, "wape"]), 4),
        "bias": round(float(by_method.loc[MODEL_METHOD, "bias"]), 4),
        "mase": round(float(by_method.loc[MODEL_METHOD, "mase"]), 4),
        "p10_p90_coverage": round(coverage, 4),
        "raw_wape": round(float(by_method.loc[RAW_METHOD, "wape"]), 4),
        "raw_bias": round(float(by_method.loc[RAW_METHOD, "bias"]), 4),
        "seconds_per_origin": round(project_seconds, 2),
        "cpu_seconds_per_origin": round(project_cpu, 2),
        "forecast_cpu_seconds_per_origin": round(forecast_cpu, 3),
        "history_weeks": feature_set.engine.history_weeks,
        "num_threads": lightgbm.num_threads,
        "refit": forecasting.refit.model_dump(),
        "train_rows_last_origin": int(training.fit_rows(scored[-1])),
        "n_features": len(training.features),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "cells": int(by_method.loc[MODEL_METHOD, "n_cells"]),
        "baselines": {
            m: round(float(by_method.loc[m, "wape"]), 4)
            for m in by_method.index
            if m not in (MODEL_METHOD, RAW_METHOD)
        },
    }
    if not args.skip_mlforecast:
        reference = run_mlforecast(wp, scored, args.horizon, lightgbm)
        ref = reference.merge(
            model[["origin_week", "target_week", "store_code", "product_code", "actual", "scale"]],
            on=["origin_week", "target_week", "store_code", "product_code"],
            how="inner",
        )
        ref = ref[ref["origin_week"].isin(scored_weeks)].assign(method="mlforecast")
        if len(ref) != result["cells"]:
            raise RuntimeError(f"mlforecast scored {len(ref)} cells, the project {result['cells']}")
        ref_score = score(ref, ["method"]).iloc[0]
        result.update(
            {
                "mlforecast_wape": round(float(ref_score["wape"]), 4),
                "mlforecast_bias": round(float(ref_score["bias"]), 4),
                "mlforecast_seconds_per_origin": round(reference.attrs["seconds_per_origin"], 2),
                "mlforecast_cpu_seconds_per_origin": round(reference.attrs["cpu_seconds_per_origin"], 2),
                "mlforecast_peak_rss_mb": round(reference.attrs["peak_rss_mb"], 1),
            }
        )
        result["speed_ratio"] = round(
            result["seconds_per_origin"] / result["mlforecast_seconds_per_origin"], 3
        )
        result["cpu_speed_ratio"] = round(
            result["cpu_seconds_per_origin"] / result["mlforecast_cpu_seconds_per_origin"], 3
        )

    print_table(scored_cells, result)
    print(json.dumps(result))
    return 0


def time_respecting_calibration(model_cells: pd.DataFrame, window: int) -> tuple[np.ndarray, ...]:
    """Level-corrected forecast, P10 and P90 of each cell, calibrated on the known cells (target on or before
    its origin) of the latest ``window`` origins that have any."""
    corrected, p10, p90 = (np.full(len(model_cells), np.nan) for _ in range(3))
    for origin, idx in model_cells.groupby("origin_week").indices.items():
        known = model_cells[model_cells["target_week"] <= origin]
        recent = np.sort(known["origin_week"].unique())[-window:] if window > 0 else []
        calibration = intervals.calibrate(known[known["origin_week"].isin(recent)])
        rows = model_cells.iloc[idx]
        corrected[idx] = intervals.correct(rows["forecast"].to_numpy(), calibration)
        p10[idx], p90[idx] = intervals.apply(corrected[idx], rows["horizon"].to_numpy(), calibration)
    return corrected, p10, p90


def run_mlforecast(wp: WidePanel, origins: list[int], horizon: int, lightgbm: LightGBMParams) -> pd.DataFrame:
    """mlforecast's forecasts of the scored origins, with its seconds per origin and peak RSS as attrs."""
    params, rounds = lgbm_train_params(lightgbm)
    last = len(wp.weeks) - 1
    with tempfile.TemporaryDirectory(prefix="sobench-mlf") as tmp:
        work = Path(tmp)
        long_panel, future = _reference_frames(wp, origins, horizon)
        long_panel.to_parquet(work / "panel.parquet", index=False)
        future.to_parquet(work / "future.parquet", index=False)
        config = {
            "origins": [str(wp.weeks[o].date()) for o in origins],
            "horizons": {str(wp.weeks[o].date()): min(horizon, last - o) for o in origins},
            "freq": _pandas_weekly_freq(wp.weeks[0]),
            "lags": MLFORECAST_LAGS,
            "rolling_windows": MLFORECAST_WINDOWS,
            "exogenous": [c for c in long_panel.columns if c not in ("unique_id", "ds", "y")],
            "lightgbm": {**params, "n_estimators": rounds},
        }
        (work / "config.json").write_text(json.dumps(config))
        command = [str(REFERENCE_PYTHON), str(REFERENCE_DIR / "run_reference.py"), str(work)]
        if subprocess.run(command, check=False).returncode != 0:
            raise RuntimeError(f"mlforecast reference failed: {' '.join(command)}")
        predictions = pd.read_parquet(work / "predictions.parquet")
        timings_file = json.loads((work / "timings.json").read_text())
    timings = timings_file["seconds"]
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
    out.attrs["seconds_per_origin"] = float(np.mean(timings))
    out.attrs["cpu_seconds_per_origin"] = float(np.mean(timings_file["cpu_seconds"]))
    out.attrs["peak_rss_mb"] = float(timings_file["peak_rss_mb"])
    return out


def _reference_frames(wp: WidePanel, origins: list[int], horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """mlforecast's panel (cells in span) and the plan of forecast weeks past a series' span (plan rule)."""
    ids = (wp.series["store_code"] + "|" + wp.series["product_code"]).to_numpy()
    price, base = wp.exog["price"], wp.exog["base_price"]
    exog = {
        "price": price,
        "base_price": base,
        "discount_depth": np.clip(1.0 - price / np.where(base > 0, base, np.nan), 0.0, None),
        **{f: wp.exog[f] for f in PROMO_FLAGS},
    }
    rows, cols = np.nonzero(wp.in_span)
    panel = pd.DataFrame({"unique_id": ids[rows], "ds": wp.weeks[cols], "y": wp.units[rows, cols]})
    for name, values in exog.items():
        panel[name] = np.nan_to_num(values[rows, cols], nan=0.0) if name != "price" else values[rows, cols]
    # Forecast weeks after a series' span: the plan rule (last base price, no promotion).
    last = len(wp.weeks) - 1
    need = np.zeros_like(wp.in_span)
    for o in origins:
        live = wp.in_span[:, o]
        for h in range(1, min(horizon, last - o) + 1):
            need[live, o + h] = True
    need &= ~wp.in_span
    f_rows, f_cols = np.nonzero(need)
    last_base = pd.DataFrame(base).ffill(axis=1).to_numpy()
    future = pd.DataFrame({"unique_id": ids[f_rows], "ds": wp.weeks[f_cols]})
    future["price"] = last_base[f_rows, f_cols]
    future["base_price"] = last_base[f_rows, f_cols]
    future["discount_depth"] = 0.0
    for flag in PROMO_FLAGS:
        future[flag] = 0.0
    panel["price"] = panel.groupby("unique_id")["price"].ffill().fillna(panel["base_price"])
    return panel, future


def _pandas_weekly_freq(week: pd.Timestamp) -> str:
    return "W-" + week.day_name()[:3].upper()


def print_table(cells: pd.DataFrame, result: dict) -> None:
    table = score(cells, ["method"])
    lines = [f"{'method':<24}{'WAPE':>8}{'bias':>9}{'MASE':>8}{'cells':>9}"]
    for row in table.itertuples(index=False):
        lines.append(f"{row.method:<24}{row.wape:8.4f}{row.bias:9.4f}{row.mase:8.3f}{row.n_cells:9d}")
    if "mlforecast_wape" in result:
        lines.append(
            f"{'mlforecast (lightgbm)':<24}{result['mlforecast_wape']:8.4f}{result['mlforecast_bias']:9.4f}"
        )
        lines.append(
            f"seconds per origin: sellout {result['seconds_per_origin']:.2f}, mlforecast "
            f"{result['mlforecast_seconds_per_origin']:.2f} (ratio {result['speed_ratio']:.3f}); cpu seconds "
            f"{result['cpu_seconds_per_origin']:.2f} vs {result['mlforecast_cpu_seconds_per_origin']:.2f} "
            f"(ratio {result['cpu_speed_ratio']:.3f}); num_threads {result['num_threads']} for both"
        )
    lines.append(
        f"P10-P90 coverage {result['p10_p90_coverage']:.3f}; peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
