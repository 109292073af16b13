"""The flow benchmarks' runs: a full run, then one new week, then a no-op, each a fresh ``kedro run`` process.

Each run's wall time and peak memory come from wait4 (the database server is not its child); its stages' times from
``ops.node_runs``; the time to its first node is the first node's start minus the moment the process was spawned.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from benchmarks.measure import measure
from benchmarks.retailer_files import Retailer, deliver_new_week

ENV = "bench"
CASES = (("full", "full"), ("new_week", "incremental"), ("noop", "incremental"))


@dataclass
class RunFigures:
    label: str
    status: str
    wall_s: float
    peak_rss_mb: float
    first_node_s: float | None
    stages: dict[str, float] = field(default_factory=dict)
    stage_peaks_mb: dict[str, float] = field(default_factory=dict)
    rows_loaded: int = 0
    forecast_rows: int = 0
    # the model's backtest WAPE (forecast.model_runs; None: the run fitted no model)
    backtest_wape: float | None = None


def run_cases(
    conf: Path, work: Path, retailer: Retailer, url: str, environ: dict[str, str]
) -> list[RunFigures]:
    figures = []
    for label, mode in CASES:
        if label == "new_week":
            deliver_new_week(retailer)
        run_id = f"bench-{label}"
        command = [sys.executable, "-m", "kedro", "run", "--conf-source", str(conf), "--env", ENV]
        command += ["--params", f"mode={mode},run_id={run_id}"]
        spawned = datetime.now(UTC)
        result = measure(command, env=environ, log_path=str(work / f"{label}.log"))
        if result.returncode != 0:
            print((work / f"{label}.log").read_text()[-4000:], file=sys.stderr)
            raise SystemExit(f"the {label} run failed")
        figures.append(_figures(url, label, run_id, spawned, result))
    return figures


def _figures(url: str, label: str, run_id: str, spawned: datetime, result) -> RunFigures:
    with psycopg.connect(url) as conn:
        status = conn.execute("select status from ops.pipeline_runs where run_id = %s", (run_id,)).fetchone()[
            0
        ]
        nodes = conn.execute(
            "select node, started_at, duration_s, peak_rss_mb from ops.node_runs where run_id = %s "
            "order by started_at",
            (run_id,),
        ).fetchall()
        rows = conn.execute(
            "select coalesce(sum(rows_loaded), 0) from ops.ingested_files where run_id = %s and status = 'loaded'",
            (run_id,),
        ).fetchone()[0]
        forecasts = (
            conn.execute("select count(*) from forecast.forecasts where run_id = %s", (run_id,)).fetchone()[0]
            if _has(conn, "forecast.forecasts")
            else 0
        )
        wapes = (
            conn.execute(
                "select model_wape from forecast.model_runs where run_id = %s order by measure", (run_id,)
            ).fetchall()
            if _has(conn, "forecast.model_runs")
            else []
        )
    first = (nodes[0][1] - spawned).total_seconds() if nodes else None
    return RunFigures(
        label=label,
        status=status,
        wall_s=result.wall_s,
        peak_rss_mb=result.peak_rss_mb,
        first_node_s=round(first, 2) if first is not None else None,
        stages={node: round(float(seconds or 0.0), 2) for node, _, seconds, _ in nodes},
        stage_peaks_mb={node: float(peak) for node, _, _, peak in nodes if peak is not None},
        rows_loaded=int(rows),
        forecast_rows=int(forecasts),
        backtest_wape=round(float(wapes[0][0]), 4) if wapes and wapes[0][0] is not None else None,
    )


def _has(conn, table: str) -> bool:
    return conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is not None


def environment(work: Path) -> dict[str, str]:
    environ = {
        **os.environ,
        "SELLOUT_PGDATA": str(work / "pg"),
        "SELLOUT_DATA_DIR": str(work / "data"),
        "DBT_TARGET_PATH": str(work / "dbt" / "target"),
        "DBT_LOG_PATH": str(work / "dbt" / "logs"),
        "KEDRO_DISABLE_TELEMETRY": "1",
    }
    environ.pop("SELLOUT_DB_URL", None)
    return environ


def print_stages(figures: list[RunFigures]) -> None:
    nodes = list(dict.fromkeys(node for run in figures for node in run.stages))
    print(f"{'node':<26}" + "".join(f"{run.label:>11}" for run in figures))
    for node in nodes:
        print(f"{node:<26}" + "".join(f"{run.stages.get(node, float('nan')):>10.2f}s" for run in figures))
    print(
        "the process's memory high-water mark when each stage returned (MB; the stage where it rises needed it)"
    )
    for node in nodes:
        print(
            f"{node:<26}"
            + "".join(f"{run.stage_peaks_mb.get(node, float('nan')):>10.0f} " for run in figures)
        )
    for run in figures:
        first = f"{run.first_node_s:.2f} s" if run.first_node_s is not None else "-"
        print(
            f"{run.label:>9}: {run.status:<9} {run.wall_s:7.1f} s wall, peak {run.peak_rss_mb:7.1f} MB, "
            f"first node after {first}, {run.rows_loaded:,} rows loaded, {run.forecast_rows:,} forecasts"
        )
