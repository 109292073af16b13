"""`make bench-io`: how fast the table datasets write, against plain COPY and kedro-datasets' SQLTableDataset.

Writes 1,000,000 sell-out-shaped rows (12 columns) into a throw-away embedded PostgreSQL by
(a) PostgresTableDataset, (b) a plain psycopg ``COPY FROM STDIN`` of the same frame serialised with
``DataFrame.to_csv``, (c) ``kedro_datasets.pandas.SQLTableDataset``; then upserts 1,000,000 rows of which 10%
changed. Peak memory is sampled while (a) writes.

It also times the server alone: ``COPY ... FROM '<file>'`` of the same rows from a file the server reads itself
(binary and CSV format, no client at all). No client can load the rows faster than the faster of the two, so
``to_sql_speedup_ceiling`` = (c) / that floor is the most any COPY-based writer can reach over (c) on this machine.
The last line is JSON.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import psycopg
from kedro_datasets.pandas import SQLTableDataset

from sellout.datasets import PostgresTableDataset
from sellout.integrations import embedded_db

ROWS = 1_000_000
KEYS = ["week_end_date", "store_code", "product_code"]
COLUMNS = {
    "week_end_date": "date",
    "store_code": "text",
    "product_code": "text",
    "source": "text",
    "units": "bigint",
    "sales_value": "numeric(18,4)",
    "price": "numeric(18,4)",
    "base_price": "numeric(18,4)",
    "feature": "boolean",
    "display": "boolean",
    "tpr_only": "boolean",
    "loaded_at": "timestamptz",
}


def sellout_frame(rows: int = ROWS, seed: int = 1) -> pd.DataFrame:
    """A deterministic store x product x week frame: 100 weeks x 100 stores x (rows / 10,000) products."""
    rng = np.random.default_rng(seed)
    n_products = rows // 10_000
    week, store, product = np.meshgrid(np.arange(100), np.arange(100), np.arange(n_products), indexing="ij")
    base_price = np.round(rng.uniform(1, 8, rows), 2)
    price = np.round(base_price * np.where(rng.random(rows) < 0.15, 0.8, 1.0), 2)
    units = rng.poisson(6, rows)
    return pd.DataFrame(
        {
            "week_end_date": (
                pd.Timestamp("2023-01-07") + pd.to_timedelta(week.ravel() * 7, unit="D")
            ).astype("datetime64[ns]"),
            "store_code": pd.array([f"S{s:04d}" for s in store.ravel()], dtype="str"),
            "product_code": pd.array([f"400{p:07d}" for p in product.ravel()], dtype="str"),
            "source": pd.array(["grocer_a"] * rows, dtype="str"),
            "units": units,
            "sales_value": np.round(units * price, 2),
            "price": price,
            "base_price": base_price,
            "feature": rng.random(rows) < 0.07,
            "display": rng.random(rows) < 0.08,
            "tpr_only": rng.random(rows) < 0.1,
            "loaded_at": pd.Timestamp("2024-01-01T06:00:00Z")
            + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s"),
        }
    )


class PeakRss:
    """Samples this process's resident memory every few milliseconds while in use."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def timed(label: str, rows: int, func, url: str) -> float:
    settle(url)
    started = time.perf_counter()
    func()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:7.2f} s  {rows / seconds:>12,.0f} rows/s", flush=True)
    return seconds


def settle(url: str) -> None:
    """A checkpoint, so that every timed write starts with no dirty pages left by the one before."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("checkpoint")


def create_table(url: str, table: str) -> None:
    ddl = ", ".join(f"{name} {pg_type}" for name, pg_type in COLUMNS.items())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists bench")
        conn.execute(f"drop table if exists {table}")
        conn.execute(f"create table {table} ({ddl})")


def plain_copy(url: str, table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"copy {table} ({', '.join(frame.columns)}) from stdin with (format csv)") as copy:
            copy.write(buffer.getvalue())
        conn.commit()


def server_copy_floor(url: str, source: str) -> dict[str, float]:
    """Seconds the server takes to COPY ``source``'s rows from a file it reads itself, per format."""
    seconds = {}
    with psycopg.connect(url, autocommit=True) as conn:
        # The server's own data directory: the one place its (non-root) user may write.
        data_directory = Path(conn.execute("show data_directory").fetchone()[0])
        for fmt in ("binary", "csv"):
            path = data_directory / f"floor.{fmt}"
            conn.execute(f"copy {source} to '{path}' with (format {fmt})")
            conn.execute(f"create table bench.floor_{fmt} (like {source})")
            conn.execute("checkpoint")
            started = time.perf_counter()
            conn.execute(f"copy bench.floor_{fmt} from '{path}' with (format {fmt})")
            seconds[fmt] = time.perf_counter() - started
            conn.execute(f"drop table bench.floor_{fmt}")
            path.unlink(missing_ok=True)
    return seconds


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def main() -> int:
    process = psutil.Process()
    work = Path(tempfile.mkdtemp(prefix="sobio", dir="/tmp"))
    try:
        url = embedded_db.start(work / "pg")
        frame = sellout_frame()
        frame_mb = frame.memory_usage(deep=True).sum() / 1e6
        print(f"frame: {len(frame):,} rows x {frame.shape[1]} columns, {frame_mb:.1f} MB in memory")

        create_table(url, "bench.by_dataset")
        dataset = PostgresTableDataset("bench.by_dataset", credentials={"url": url}, columns=COLUMNS)
        before_write = process.memory_info().rss
        with PeakRss() as memory:
            dataset_s = timed("(a) PostgresTableDataset (append)", ROWS, lambda: dataset.save(frame), url)
        create_table(url, "bench.by_copy")
        copy_s = timed(
            "(b) plain psycopg COPY (to_csv)", ROWS, lambda: plain_copy(url, "bench.by_copy", frame), url
        )

        create_table(url, "by_to_sql")
        to_sql = SQLTableDataset(
            table_name="by_to_sql",
            credentials={"con": sqlalchemy_url(url)},
            save_args={"if_exists": "append", "index": False, "schema": "bench"},
        )
        to_sql_s = timed("(c) kedro-datasets SQLTableDataset (to_sql)", ROWS, lambda: to_sql.save(frame), url)

        upsert = PostgresTableDataset(
            "bench.upserted",
            credentials={"url": url},
            columns=COLUMNS,
            save_args={"mode": "upsert", "keys": KEYS},
        )
        upsert.save(frame)  # the table as it was: 1,000,000 rows with its key
        changed = frame.copy()
        rng = np.random.default_rng(2)
        picked = rng.random(ROWS) < 0.10
        changed.loc[picked, "units"] = changed.loc[picked, "units"] + 1
        upsert_s = timed("upsert 1,000,000 rows, 10% changed", ROWS, lambda: upsert.save(changed), url)
        with psycopg.connect(url) as conn:
            total, changed_rows = conn.execute(
                "select count(*), count(*) filter (where u.units <> c.units) from bench.upserted u "
                "join bench.by_copy c using (week_end_date, store_code, product_code)"
            ).fetchone()
        assert total == ROWS and changed_rows == int(picked.sum()), (total, changed_rows, int(picked.sum()))

        floor = server_copy_floor(url, "bench.by_copy")
        floor_s = min(floor.values())
        for fmt, seconds in floor.items():
            print(
                f"{'(d) server alone: COPY FROM a file, ' + fmt:<44} {seconds:7.2f} s  {ROWS / seconds:>12,.0f} rows/s"
            )

        peak_mb = memory.peak / 1e6
        # what the write needs: the frame it writes plus what the write allocates on top of it
        write_extra_mb = (memory.peak - before_write) / 1e6
        used_mb = frame_mb + write_extra_mb
        figures = {
            "rows": ROWS,
            "dataset_rows_per_s": round(ROWS / dataset_s),
            "copy_rows_per_s": round(ROWS / copy_s),
            "to_sql_rows_per_s": round(ROWS / to_sql_s),
            "upsert_rows_per_s": round(ROWS / upsert_s),
            "copy_ratio": round(copy_s / dataset_s, 3),
            "to_sql_speedup": round(to_sql_s / dataset_s, 1),
            "upsert_vs_copy": round(upsert_s / copy_s, 3),
            "server_floor_s": round(floor_s, 3),
            "to_sql_speedup_ceiling": round(to_sql_s / floor_s, 1),
            "frame_mb": round(frame_mb, 1),
            "peak_rss_mb": round(peak_mb, 1),
            "write_extra_mb": round(write_extra_mb, 1),
            "frame_and_write_mb": round(used_mb, 1),
            "memory_vs_frame": round(used_mb / frame_mb, 2),
        }
        print(
            f"(a)/(b) = {figures['copy_ratio']}x, (a)/(c) = {figures['to_sql_speedup']}x, "
            f"upsert/COPY = {figures['upsert_vs_copy']}x; the server alone caps (a)/(c) at "
            f"{figures['to_sql_speedup_ceiling']}x; during (a) the process peaked at {peak_mb:.0f} MB: the "
            f"write added {write_extra_mb:.0f} MB to the {frame_mb:.0f} MB frame ({figures['memory_vs_frame']}x the frame)"
        )
        print(json.dumps(figures))
        return 0
    finally:
        embedded_db.stop(work / "pg")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
