"""`make bench-forecast [DATA=dunnhumby|rossmann|pipeline] [SOURCE=...]`: the project's forecaster and mlforecast
on one data set. ``pipeline`` (or a model panel's parquet path) is a retailer the team has onboarded: the model
panel of the pipeline's last run, one source of it (benchmarks/forecast_data.py).

Protocol (issue 15, today's): the data set's panel (benchmarks/forecast_data.py: a week with no row inside a
series' span = 0, a store's outage weeks left out of training and scoring); 13 rolling origins (the weeks T-13
.. T-1), horizons 1-4 on or before T, WAPE = sum|error| / sum(actual) over the cells of series in span, outage
weeks left out; promoted-cell WAPE over the cells whose target week was promoted. The forecast weeks' known
inputs: ``--known-inputs`` (default ``actual_is_plan``: prices, promotions and calendar inputs are a plan known
in advance, the actual ones; for a pipeline source, what production takes for it, ``known_inputs`` of
parameters_forecasting.yml, a promo plan counted as the actual weeks), for both methods alike
(plan.known_future). Both use the LightGBM settings of ``conf/base/parameters_forecasting.yml`` (the same
``num_threads``) and are timed in this one run, back to back.

The project's forecaster runs as production runs it: the settings per source chosen on a validation window
that ends at the first scored origin (selection.py), then its own refit schedule (``forecasting.refit``: a
full fit, then cheap refreshes until it is ``full_every_weeks`` old); mlforecast fits in full at every origin.
Seconds per origin = the scored origins' fits and forecasts (from the last warm-up origin's forecasts to the
last scored origin's: their fits run side by side) over their number, the project's one-off work (feature
build, the choice of settings) charged to them. Wall seconds are what the issue asks for; CPU seconds are printed
beside them because on a shared machine the load moves wall time between the two methods' turns.

The project's forecast is the model's times the level correction, and its P10-P90 interval, both calibrated
as the pipeline does (intervals.py) on the cells of the latest ``--calibration-origins`` origins whose target
weeks are on or before the origin (no look-ahead). As many extra origins before the scored ones give the first
scored origins something to calibrate on; they are fitted but neither timed nor scored. The last stdout line
is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks.forecast_data import DATA_SETS, PIPELINE_PANEL, PanelFileError, data_dir, load_panel_file
from benchmarks.forecast_reference import REFERENCE_PYTHON, run_mlforecast
from benchmarks.shared_data import PROJECT_ROOT
from sellout.config.model_parameters import ForecastingParams
from sellout.config.parameters import PromotionParams
from sellout.pipelines.features.nodes import build_model_features
from sellout.pipelines.forecasting import intervals
from sellout.pipelines.forecasting.backtest import (
    MODEL_METHOD,
    OriginTiming,
    origin_columns,
    run_backtest,
    score,
)
from sellout.pipelines.forecasting.segments import SourceTrainings
from sellout.pipelines.forecasting.selection import choose_settings
from sellout.pipelines.preprocessing.nodes import summarize_model_panel

RAW_METHOD = f"{MODEL_METHOD} (uncorrected)"
MLFORECAST = "mlforecast (lightgbm)"


def load_parameters() -> tuple[dict, dict, PromotionParams]:
    """``forecasting``, ``features`` and ``promotion`` parameters from conf/base (plain YAML, no interpolation)."""
    conf = PROJECT_ROOT / "conf" / "base"
    forecasting = yaml.safe_load((conf / "parameters_forecasting.yml").read_text())["forecasting"]
    features = yaml.safe_load((conf / "parameters_features.yml").read_text())["features"]
    promotion = yaml.safe_load((conf / "parameters.yml").read_text())["promotion"]
    return forecasting, features, PromotionParams.of(promotion, "promotion")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.forecast", description=__doc__)
    parser.add_argument(
        "--data",
        default="dunnhumby",
        help=f"the data set: {', '.join(sorted(DATA_SETS))}, pipeline (the last run's model panel) or the path of "
        "a model panel parquet file",
    )
    parser.add_argument("--source", default=None, help="the source of a pipeline panel that holds several")
    parser.add_argument("--origins", type=int, default=13, help="scored rolling origins (default 13)")
    parser.add_argument("--horizon", type=int, default=4, help="scored horizons 1..N (default 4)")
    parser.add_argument(
        "--known-inputs",
        choices=["actual_is_plan", "rule"],
        default=None,
        help="the forecast weeks' prices and promotions: the actual ones (a plan) or the plan rule's (default: "
        "actual_is_plan; for a pipeline source, what production takes for it)",
    )
    parser.add_argument(
        "--calibration-origins",
        type=int,
        default=None,
        help="origins the correction and intervals learn from (default: the pipeline's backtest origins)",
    )
    parser.add_argument("--skip-mlforecast", action="store_true", help="only the project's forecaster")
    parser.add_argument(
        "--set", action="append", default=[], help="forecasting.KEY=JSON override (experiments)"
    )
    parser.add_argument("--set-features", action="append", default=[], help="features KEY=JSON override")
    args = parser.parse_args(argv)

    if not args.skip_mlforecast and not REFERENCE_PYTHON.exists():
        print(
            f"bench-forecast needs the mlforecast environment {REFERENCE_PYTHON}: run "
            "`cd benchmarks/mlforecast && UV_PROJECT_ENVIRONMENT=../../.venv-mlforecast uv sync --frozen`",
            file=sys.stderr,
        )
        return 2

    raw_forecasting, features, promotion = load_parameters()
    started = time.perf_counter()
    try:
        loaded = load_data(args.data, args.source)
    except PanelFileError as exc:
        print(f"bench-forecast: {exc}", file=sys.stderr)
        return 2
    if loaded is None:
        return 2
    name, panel = loaded
    load_s = time.perf_counter() - started
    if args.known_inputs is None:
        configured = raw_forecasting.get("known_inputs_by_source", {}).get(
            name, raw_forecasting["known_inputs"]
        )
        pipeline_source = args.data not in DATA_SETS
        args.known_inputs = "rule" if pipeline_source and configured == "rule" else "actual_is_plan"
    raw_forecasting = {**raw_forecasting, "known_inputs": args.known_inputs, "known_inputs_by_source": {}}
    raw_forecasting["backtest"] = {
        **raw_forecasting["backtest"],
        "origins": args.origins,
        "horizon": args.horizon,
    }
    for target, items in ((raw_forecasting, args.set), (features, args.set_features)):
        for item in items:
            key, value = item.split("=", 1)
            *parents, leaf = key.split(".")
            block = target
            for parent in parents:
                block = block.setdefault(parent, {})
            block[leaf] = json.loads(value)
    forecasting = ForecastingParams.of(raw_forecasting, "forecasting")
    if args.calibration_origins is None:
        args.calibration_origins = forecasting.backtest.origins
    outage_weeks = summarize_model_panel(panel.iloc[:0], panel)["outage_weeks"]
    rss_panel = _rss_mb()
    started, started_cpu = time.perf_counter(), time.process_time()
    feature_set = build_model_features(panel, features, promotion)
    del panel
    build_s, build_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    rss_features = _rss_mb()
    wp = feature_set.panel
    min_training_weeks = forecasting.backtest.min_training_weeks
    try:
        scored = origin_columns(wp, args.origins, min_training_weeks)
    except ValueError as exc:
        print(f"bench-forecast: {name}: {exc}", file=sys.stderr)
        return 2
    started, started_cpu = time.perf_counter(), time.process_time()
    chosen = choose_settings(feature_set, forecasting)
    choose_s, choose_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    trainings = SourceTrainings(feature_set, forecasting, chosen)
    # the calibration's origins before the scored ones, as many as the panel has room for
    extended = origin_columns(wp, args.origins + args.calibration_origins, min_training_weeks)
    warmup = [col for col in extended if col < scored[0]]
    print(
        f"{name}: {wp.n_series} series x {len(wp.weeks)} weeks ({int(wp.in_span.sum())} cells, "
        f"{outage_weeks} outage store-weeks; panel {load_s:.1f} s); origins {wp.weeks[scored[0]].date()} .. "
        f"{wp.weeks[scored[-1]].date()}, horizons 1-{args.horizon}; known inputs {args.known_inputs}",
        flush=True,
    )
    print(f"features {build_s:.1f} s, choice of settings {choose_s:.1f} s:", flush=True)
    for source, record in chosen.items():
        print(
            f"  {source}: {record['candidate']} ({record['reason']}; {record['validation_wape']})", flush=True
        )

    stamps = {-1: (time.perf_counter(), time.process_time())}  # origin -> when its forecasts were done

    def on_origin(timing: OriginTiming) -> None:
        stamps[timing.origin] = (time.perf_counter(), time.process_time())
        print(
            f"sellout origin {wp.weeks[timing.origin].date()}: {timing.wall_seconds:.1f} s (cpu "
            f"{timing.cpu_seconds:.1f} s, of which forecast {timing.forecast_cpu_seconds:.2f} s) {timing.kind}",
            flush=True,
        )

    cells, timings, _ = run_backtest(
        wp, trainings, warmup + scored, args.horizon, on_origin=on_origin, refit=forecasting.refit
    )
    timed = {t.origin: t for t in timings}
    one_off_s, one_off_cpu = build_s + choose_s, build_cpu + choose_cpu
    # the scored origins' fits run side by side (forecasting/parallel.py): their seconds are the span from the
    # last warm-up origin's forecasts to the last scored origin's, not the sum of each one's own
    (start_s, start_cpu), (end_s, end_cpu) = stamps[warmup[-1] if warmup else -1], stamps[scored[-1]]
    project_seconds = (one_off_s + end_s - start_s) / len(scored)
    project_cpu = (one_off_cpu + end_cpu - start_cpu) / len(scored)
    forecast_cpu = float(np.mean([timed[o].forecast_cpu_seconds for o in scored]))
    peak_rss_mb = _rss_mb()

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
    promoted = score(scored_cells, ["method", "promoted"]).set_index(["method", "promoted"])

    def promoted_wape(method: str) -> float | None:
        key = (method, True)
        return round(float(promoted.loc[key, "wape"]), 4) if key in promoted.index else None

    result = {
        "data": name,
        "known_inputs": args.known_inputs,
        "wape": round(float(by_method.loc[MODEL_METHOD, "wape"]), 4),
        "bias": round(float(by_method.loc[MODEL_METHOD, "bias"]), 4),
        "mase": round(float(by_method.loc[MODEL_METHOD, "mase"]), 4),
        "p10_p90_coverage": round(coverage, 4),
        "promoted_wape": promoted_wape(MODEL_METHOD),
        "raw_wape": round(float(by_method.loc[RAW_METHOD, "wape"]), 4),
        "raw_bias": round(float(by_method.loc[RAW_METHOD, "bias"]), 4),
        "seconds_per_origin": round(project_seconds, 2),
        "cpu_seconds_per_origin": round(project_cpu, 2),
        "forecast_cpu_seconds_per_origin": round(forecast_cpu, 3),
        "choice_seconds": round(choose_s, 1),
        "settings": {source: record["candidate"] for source, record in chosen.items()},
        "outage_weeks": int(outage_weeks),
        "history_weeks": feature_set.engine.history_weeks,
        "num_threads": forecasting.lightgbm.num_threads,
        "refit": forecasting.refit.model_dump(),
        "train_rows_last_origin": int(trainings.fit_rows(scored[-1])),
        "n_features": {s: len(settings.columns) for s, (_, settings) in trainings.sources.items()},
        "peak_rss_mb": round(peak_rss_mb, 1),
        "rss_mb_after": {"panel": round(rss_panel, 1), "features": round(rss_features, 1)},
        "cells": int(by_method.loc[MODEL_METHOD, "n_cells"]),
        "promoted_cells": int(promoted.loc[(MODEL_METHOD, True), "n_cells"])
        if (MODEL_METHOD, True) in promoted.index
        else 0,
        "baselines": {
            m: round(float(by_method.loc[m, "wape"]), 4)
            for m in by_method.index
            if m not in (MODEL_METHOD, RAW_METHOD)
        },
    }
    if not args.skip_mlforecast:
        reference = run_mlforecast(
            wp, scored, args.horizon, forecasting.lightgbm, args.known_inputs, forecasting.plan_rule
        )
        keys = ["origin_week", "target_week", "store_code", "product_code"]
        ref = reference.merge(model[[*keys, "actual", "scale", "promoted"]], on=keys, how="inner")
        ref = ref[ref["origin_week"].isin(scored_weeks)].assign(method=MLFORECAST)
        if len(ref) != result["cells"]:
            raise RuntimeError(f"mlforecast scored {len(ref)} cells, the project {result['cells']}")
        ref_score = score(ref, ["method"]).iloc[0]
        ref_promoted = score(ref[ref["promoted"]], ["method"]) if ref["promoted"].any() else None
        result.update(
            {
                "mlforecast_wape": round(float(ref_score["wape"]), 4),
                "mlforecast_bias": round(float(ref_score["bias"]), 4),
                "mlforecast_promoted_wape": round(float(ref_promoted["wape"].iloc[0]), 4)
                if ref_promoted is not None
                else None,
                "mlforecast_seconds_per_origin": round(reference.attrs["seconds_per_origin"], 2),
                "mlforecast_cpu_seconds_per_origin": round(reference.attrs["cpu_seconds_per_origin"], 2),
                "mlforecast_peak_rss_mb": round(reference.attrs["peak_rss_mb"], 1),
            }
        )
        result["wape_vs_mlforecast"] = round(result["wape"] / result["mlforecast_wape"], 3)
        result["speed_ratio"] = round(
            result["seconds_per_origin"] / result["mlforecast_seconds_per_origin"], 3
        )
        result["cpu_speed_ratio"] = round(
            result["cpu_seconds_per_origin"] / result["mlforecast_cpu_seconds_per_origin"], 3
        )

    print_table(scored_cells, result)
    print(json.dumps(result))
    return 0


def load_data(data: str, source: str | None) -> tuple[str, pd.DataFrame] | None:
    """The name and model panel of ``data``: a named data set of ../shared, or one source of a model panel file
    (``pipeline``: the pipeline's last). None after saying on stderr where a named data set's files were sought."""
    if data in DATA_SETS:
        if source is not None:
            raise PanelFileError(f"--source names a source of a pipeline panel; {data} has one")
        folder = data_dir(data)
        return None if folder is None else (data, DATA_SETS[data].load(folder))
    return load_panel_file(PIPELINE_PANEL if data == "pipeline" else Path(data), source)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def print_table(cells: pd.DataFrame, result: dict) -> None:
    table = score(cells, ["method"])
    promoted = score(cells, ["method", "promoted"]).set_index(["method", "promoted"])["wape"]
    lines = [f"{'method':<24}{'WAPE':>8}{'bias':>9}{'MASE':>8}{'cells':>9}{'promoted':>10}{'other':>8}"]
    for row in table.itertuples(index=False):
        on, off = promoted.get((row.method, True), np.nan), promoted.get((row.method, False), np.nan)
        lines.append(
            f"{row.method:<24}{row.wape:8.4f}{row.bias:9.4f}{row.mase:8.3f}{row.n_cells:9d}{on:10.4f}{off:8.4f}"
        )
    if "mlforecast_wape" in result:
        lines.append(
            f"{MLFORECAST:<24}{result['mlforecast_wape']:8.4f}{result['mlforecast_bias']:9.4f}{'':17}"
            f"{result['mlforecast_promoted_wape'] or float('nan'):10.4f}"
        )
        lines.append(
            f"seconds per origin: sellout {result['seconds_per_origin']:.2f}, mlforecast "
            f"{result['mlforecast_seconds_per_origin']:.2f} (ratio {result['speed_ratio']:.3f}); cpu seconds "
            f"{result['cpu_seconds_per_origin']:.2f} vs {result['mlforecast_cpu_seconds_per_origin']:.2f} "
            f"(ratio {result['cpu_speed_ratio']:.3f}); num_threads {result['num_threads']} for both"
        )
    lines.append(
        f"P10-P90 coverage {result['p10_p90_coverage']:.3f}; peak RSS {result['peak_rss_mb']:.0f} MB"
        + (
            f" (mlforecast {result['mlforecast_peak_rss_mb']:.0f} MB)"
            if "mlforecast_peak_rss_mb" in result
            else ""
        )
    )
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
