"""`make bench-scale`: a larger retailer built from dunnhumby (stores cloned under new codes, units perturbed by a
fixed seed, delivered as weekly files) at 1x, 5x and 20x: at each scale a full run, one new week and a no-op, with
the time and peak memory of each, every stage's time, and how each stage grew against the scale. The last line is
JSON. ``SCALES=1,5`` (or ``python -m benchmarks.scale 1 5``) runs a subset; ``SELLOUT_BENCH_KEEP=1`` keeps each
scale's work folder (the runs' logs, dbt's artifacts, the database) and prints where it is.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.flow_runs import ENV, RunFigures, environment, print_stages, run_cases
from benchmarks.retailer_files import write_environment, write_retailer
from benchmarks.shared_data import PROJECT_ROOT, dunnhumby_dir
from sellout.integrations import embedded_db

DEFAULT_SCALES = (1, 5, 20)


def run_scale(source_dir: Path, scale: int) -> tuple[dict[str, float], list[RunFigures]]:
    work = Path(tempfile.mkdtemp(prefix=f"soscale{scale}x", dir="/tmp"))
    try:
        retailer = write_retailer(source_dir, work / "landing", scale=scale)
        print(f"{scale}x: {retailer.weeks} weekly files, {retailer.rows:,} rows, {retailer.series:,} series")
        conf = write_environment(PROJECT_ROOT / "conf", work, ENV, retailer.landing)
        url = embedded_db.start(work / "pg")
        runs = run_cases(conf, work, retailer, url, environment(work))
    finally:
        embedded_db.stop(work / "pg")
        if os.environ.get("SELLOUT_BENCH_KEEP"):  # the runs' logs, dbt's run_results.json, the database
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    full, new_week, noop = runs
    figures = {
        f"x{scale}_full_wall_s": full.wall_s,
        f"x{scale}_new_week_wall_s": new_week.wall_s,
        f"x{scale}_noop_wall_s": noop.wall_s,
        f"x{scale}_peak_rss_mb": max(run.peak_rss_mb for run in runs),
        f"x{scale}_rows": retailer.rows,
        f"x{scale}_series": retailer.series,
        # the full run's backtest: what sampling the training series (features.max_training_cells) costs
        f"x{scale}_backtest_wape": full.backtest_wape,
    }
    return figures, runs


def print_growth(full_runs: dict[int, RunFigures]) -> None:
    """Each stage's full-run time per scale, and its growth against the scale (1.0 = linear, below = better)."""
    scales = sorted(full_runs)
    base = full_runs[scales[0]]
    nodes = list(dict.fromkeys(node for run in full_runs.values() for node in run.stages))
    print(
        f"{'full run, stage':<26}"
        + "".join(f"{f'{s}x':>10}" for s in scales)
        + "".join(f"{f'{s}x/lin':>10}" for s in scales[1:])
    )
    for node in nodes:
        times = [full_runs[s].stages.get(node, float("nan")) for s in scales]
        growth = [
            (full_runs[s].stages.get(node, float("nan")) / max(base.stages.get(node, 0.0), 0.01))
            / (s / scales[0])
            for s in scales[1:]
        ]
        print(f"{node:<26}" + "".join(f"{t:>9.1f}s" for t in times) + "".join(f"{g:>10.2f}" for g in growth))


def main() -> int:
    source_dir = dunnhumby_dir("scale")
    if source_dir is None:
        return 2
    wanted = sys.argv[1:] or [s for s in os.environ.get("SCALES", "").split(",") if s]
    if not all(s.isdigit() and int(s) > 0 for s in wanted):
        print(
            f"usage: python -m benchmarks.scale [SCALE ...] (whole numbers, e.g. 1 5 20); got {' '.join(wanted)}"
        )
        return 2
    scales = tuple(int(s) for s in wanted) or DEFAULT_SCALES
    figures: dict[str, float] = {}
    full_runs: dict[int, RunFigures] = {}
    for scale in scales:
        scale_figures, runs = run_scale(source_dir, scale)
        print_stages(runs)
        figures.update(scale_figures)
        full_runs[scale] = runs[0]
    print_growth(full_runs)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
