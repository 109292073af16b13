"""`make bench-flow`: the whole flow on the whole dunnhumby set delivered as weekly files: a full run, then one new
week, then a run with nothing new; wall time, peak memory, each stage's time and the time to the first node.

Each run is a fresh `kedro run` process against a throw-away embedded database, data folder and config copy (an
environment `bench` whose only source is the weekly files). The last line is JSON. ``SELLOUT_BENCH_KEEP=1`` keeps
the work folder (the runs' logs, dbt's artifacts, the database) and prints where it is.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.flow_runs import ENV, environment, print_stages, run_cases
from benchmarks.retailer_files import write_environment, write_retailer
from benchmarks.shared_data import PROJECT_ROOT, dunnhumby_dir
from sellout.integrations import embedded_db


def main() -> int:
    source_dir = dunnhumby_dir("flow")
    if source_dir is None:
        return 2
    work = Path(tempfile.mkdtemp(prefix="sobench", dir="/tmp"))
    try:
        retailer = write_retailer(source_dir, work / "landing")
        print(f"retailer: {retailer.weeks} weekly files, {retailer.rows:,} rows, {retailer.series:,} series")
        conf = write_environment(PROJECT_ROOT / "conf", work, ENV, retailer.landing)
        url = embedded_db.start(work / "pg")
        full, new_week, noop = run_cases(conf, work, retailer, url, environment(work))
    finally:
        embedded_db.stop(work / "pg")
        if os.environ.get("SELLOUT_BENCH_KEEP"):  # the runs' logs, dbt's run_results.json, the database
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_stages([full, new_week, noop])
    print(
        json.dumps(
            {
                "full_wall_s": full.wall_s,
                "full_peak_rss_mb": full.peak_rss_mb,
                "full_rows_loaded": full.rows_loaded,
                "new_week_wall_s": new_week.wall_s,
                "new_week_peak_rss_mb": new_week.peak_rss_mb,
                "new_week_rows_loaded": new_week.rows_loaded,
                "noop_wall_s": noop.wall_s,
                "noop_peak_rss_mb": noop.peak_rss_mb,
                "noop_status": noop.status,
                "first_node_s": full.first_node_s,
                "noop_share": round(noop.wall_s / full.wall_s, 4),
                "new_week_share": round(new_week.wall_s / full.wall_s, 4),
                "forecast_rows": full.forecast_rows,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
