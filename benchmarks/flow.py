"""`make bench-flow`: the whole flow on the whole dunnhumby set, then an incremental run with no new files.

Each run is a fresh `sellout run --env dunnhumby` process against a throw-away embedded database and data folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import measure
from benchmarks.shared_data import dunnhumby_dir
from sellout.integrations import embedded_db


def main() -> int:
    source_dir = dunnhumby_dir("flow")
    if source_dir is None:
        return 2
    shared = source_dir.parents[1]
    work = Path(tempfile.mkdtemp(prefix="sobench", dir="/tmp"))
    env = {
        **os.environ,
        "SELLOUT_SHARED_DIR": str(shared),
        "SELLOUT_PGDATA": str(work / "pg"),
        "SELLOUT_DATA_DIR": str(work / "data"),
        "DBT_TARGET_PATH": str(work / "dbt" / "target"),
        "DBT_LOG_PATH": str(work / "dbt" / "logs"),
        "KEDRO_DISABLE_TELEMETRY": "1",
    }
    env.pop("SELLOUT_DB_URL", None)
    sellout = str(Path(sys.executable).parent / "sellout")
    try:
        embedded_db.start(work / "pg")
        figures = {}
        for label, mode in (("full", "full"), ("noop", "incremental")):
            summary_path = work / f"{label}.json"
            result = measure(
                [sellout, "run", "--env", "dunnhumby", "--mode", mode, "--summary", str(summary_path)],
                env=env,
                log_path=str(work / f"{label}.log"),
            )
            if result.returncode != 0:
                print((work / f"{label}.log").read_text()[-4000:], file=sys.stderr)
                return 1
            summary = json.loads(summary_path.read_text())
            ingestion = summary["outputs"]["ingestion_status"]
            figures[label] = {
                "wall_s": result.wall_s,
                "peak_rss_mb": result.peak_rss_mb,
                "files_loaded": ingestion["files_loaded"],
                "rows_loaded": ingestion["rows_loaded"],
                "forecast_rows": summary["outputs"]["forecast_write_status"]["rows"],
            }
            print(
                f"{label:>5}: {result.wall_s:7.1f} s wall, peak {result.peak_rss_mb:7.1f} MB, "
                f"{ingestion['files_loaded']} files / {ingestion['rows_loaded']} rows loaded, "
                f"{figures[label]['forecast_rows']} forecasts"
            )
    finally:
        embedded_db.stop(work / "pg")
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "full_wall_s": figures["full"]["wall_s"],
                "full_peak_rss_mb": figures["full"]["peak_rss_mb"],
                "full_rows_loaded": figures["full"]["rows_loaded"],
                "noop_wall_s": figures["noop"]["wall_s"],
                "noop_peak_rss_mb": figures["noop"]["peak_rss_mb"],
                "noop_files_loaded": figures["noop"]["files_loaded"],
                "forecast_rows": figures["full"]["forecast_rows"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
