"""`make bench-ingest`: the whole dunnhumby history as 156 weekly files, then one new week, then a no-op rerun;
then the Rossmann daily store sales (one file of 1,017,209 days, summed into weeks at ingest).

The parent splits the real file into weekly files in a temp landing folder; a child process runs the ingestion
(plan, read, validate, load: the ingestion pipeline's nodes and datasets) three times against a throw-away embedded
PostgreSQL, then once for Rossmann (its entry from conf/base/sources.yml, the file linked into the temp folder),
and its peak memory is read from wait4. The last line is JSON; without ../shared's Rossmann folder its figures
are null.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from benchmarks.shared_data import dunnhumby_dir
from sellout.config.source_validation import validate_sources
from sellout.datasets import RawFileLoadDataset
from sellout.datasets.run_config import code_maps
from sellout.ingest.landing import scan_sources
from sellout.integrations import embedded_db
from sellout.pipelines.ingestion.nodes import parse_new_files, plan_ingestion, summarize_ingestion

CHILD = "--child"


def split_weekly(transactions: Path, target: Path) -> list[pd.Timestamp]:
    frame = pd.read_csv(transactions, dtype=str)
    weeks = sorted(frame["WEEK_END_DATE"].unique())
    for week, rows in frame.groupby("WEEK_END_DATE", sort=True):
        rows.to_csv(target / f"transactions_{week}.csv", index=False)
    return weeks


def run_ingestion(url: str, config: Path, quarantine: Path, run_id: str) -> dict:
    """One ingestion run through the pipeline's own nodes and datasets; returns its status and wall time."""

    started = time.perf_counter()
    sources = validate_sources(yaml.safe_load(config.read_text()), config.parent)
    manifest = RawFileLoadDataset(quarantine_dir=str(quarantine), credentials={"url": url})
    codes = RawFileLoadDataset(quarantine_dir=str(quarantine), credentials={"url": url}, read="master_codes")
    context = {"run_id": run_id, "mode": "incremental", "started_at": "2026-11-27T07:00:00+00:00"}
    plan = plan_ingestion(scan_sources(sources), manifest.load(), context)
    for parsed in parse_new_files(
        plan, sources, codes.load(), code_maps(sources), context, {"max_rejected_share": 0.05}
    ):
        manifest.save(parsed)
    status = summarize_ingestion(manifest.load(), context)
    return {**status, "seconds": time.perf_counter() - started}


def child(url: str, config: Path, quarantine: Path, landing: Path, last_week: str) -> None:

    logging.basicConfig(level=logging.WARNING)
    full = run_ingestion(url, config, quarantine, "full-history")
    last = pd.read_csv(landing / f"transactions_{last_week}.csv", dtype=str)
    new_week = (pd.Timestamp(last_week) + pd.Timedelta(weeks=1)).strftime("%Y-%m-%d")
    last.assign(WEEK_END_DATE=new_week).to_csv(landing / f"transactions_{new_week}.csv", index=False)
    new = run_ingestion(url, config, quarantine, "new-week")
    noop = run_ingestion(url, config, quarantine, "no-op")
    rossmann_config = config.with_name("rossmann.yml")
    rossmann = (
        run_ingestion(url, rossmann_config, quarantine, "rossmann") if rossmann_config.exists() else None
    )
    print(json.dumps({"full": full, "new": new, "noop": noop, "rossmann": rossmann}))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]), sys.argv[6])
        return 0
    source_dir = dunnhumby_dir("ingest")
    if source_dir is None:
        return 2
    work = Path(tempfile.mkdtemp(prefix="soing", dir="/tmp"))
    try:
        landing = work / "landing"
        landing.mkdir()
        weeks = split_weekly(source_dir / "transactions.csv.gz", landing)
        for name in ("stores.csv", "products.csv"):
            shutil.copy(source_dir / name, landing / name)
        project_root = Path(__file__).resolve().parents[1]
        base = yaml.safe_load((project_root / "conf" / "base" / "sources.yml").read_text())
        dunnhumby = base["sources"]["dunnhumby"]
        dunnhumby.update({"enabled": True, "directory": str(landing)})
        dunnhumby["sellout"]["pattern"] = "transactions_*.csv"
        config = work / "sources.yml"
        config.write_text(yaml.safe_dump({"sources": {"dunnhumby": dunnhumby}}))
        print(f"landing: {len(weeks)} weekly files from {weeks[0]} to {weeks[-1]}")
        rossmann_file = source_dir.parent / "rossmann_store_sales" / "train.csv.gz"
        if rossmann_file.exists():
            (work / "rossmann").mkdir()
            # a link: a quarantine would remove the link, never the shared file
            (work / "rossmann" / rossmann_file.name).symlink_to(rossmann_file)
            rossmann = base["sources"]["rossmann"]
            rossmann.update({"enabled": True, "directory": str(work / "rossmann")})
            (work / "rossmann.yml").write_text(yaml.safe_dump({"sources": {"rossmann": rossmann}}))

        url = embedded_db.start(work / "pg")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.ingest",
                CHILD,
                url,
                str(config),
                str(work / "q"),
                str(landing),
                weeks[-1],
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            print(output, file=sys.stderr)
            return 1
        result = json.loads(output.strip().splitlines()[-1])
    finally:
        embedded_db.stop(work / "pg")
        shutil.rmtree(work, ignore_errors=True)

    full, new, noop, rossmann = result["full"], result["new"], result["noop"], result["rossmann"]
    peak_mb = usage.ru_maxrss / 1024
    print(
        f"full history: {full['files_loaded']} files, {full['rows_loaded']:,} rows in {full['seconds']:.2f} s "
        f"({full['rows_loaded'] / full['seconds']:,.0f} rows/s)"
    )
    print(f"one new week: {new['files_loaded']} file, {new['rows_loaded']:,} rows in {new['seconds']:.2f} s")
    print(
        f"no-op rerun:  {noop['files_loaded']} files in {noop['seconds']:.2f} s; peak memory {peak_mb:.0f} MB"
    )
    if rossmann:
        print(
            f"rossmann:     {rossmann['rows_loaded']:,} daily rows in {rossmann['seconds']:.2f} s "
            f"({rossmann['rows_loaded'] / rossmann['seconds']:,.0f} rows/s), {rossmann['rows_rejected']} rejected"
        )
    print(
        json.dumps(
            {
                "full_files": full["files_loaded"],
                "full_rows": full["rows_loaded"],
                "full_s": round(full["seconds"], 2),
                "full_rows_per_s": round(full["rows_loaded"] / full["seconds"]),
                "new_week_rows": new["rows_loaded"],
                "new_week_s": round(new["seconds"], 2),
                "noop_files": noop["files_loaded"],
                "noop_s": round(noop["seconds"], 3),
                "rossmann_rows": rossmann["rows_loaded"] if rossmann else None,
                "rossmann_s": round(rossmann["seconds"], 2) if rossmann else None,
                "rossmann_rows_per_s": round(rossmann["rows_loaded"] / rossmann["seconds"])
                if rossmann
                else None,
                "peak_rss_mb": round(peak_mb, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
