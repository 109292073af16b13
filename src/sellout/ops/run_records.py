"""The run-record tables (``ops.*``) and the idempotent writes into them.

Tables (created on first use, ``create ... if not exists``, so every writer may call :func:`ensure_tables`):

- ``ops.pipeline_runs``: one row per run id (Airflow runs one Kedro session per task under the same run id:
  each session upserts the same row, widening start/end and counting sessions).
- ``ops.node_runs``: one row per (run id, node): start, end, status, duration, rows in/out, datasets read and
  written, the error's first lines, the attempt number (a retried node overwrites its row), and the process's
  peak memory when the node ended.
- ``ops.dbt_results``: dbt's per-model/per-test results of the run, one row per (run id, command, unique id).
(``ops.tableau_refreshes``, the refresh confirmations, belongs to :mod:`sellout.datasets.tableau_refresh`.)

Every write is one statement or one transaction and an upsert on the table's key: rerunning it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

SCHEMA = "ops"

DDL = (
    "create schema if not exists ops",
    """
    create table if not exists ops.pipeline_runs (
        run_id text primary key,
        pipeline text,
        env text,
        mode text,
        dry_run boolean,
        status text not null,
        started_at timestamptz not null,
        ended_at timestamptz,
        duration_s double precision,
        nodes_total integer,
        nodes_failed integer,
        rows_in bigint,
        rows_out bigint,
        sessions integer not null default 1,
        error text,
        updated_at timestamptz not null default now()
    )
    """,
    """
    create table if not exists ops.node_runs (
        run_id text not null,
        node text not null,
        pipeline text,
        status text not null,
        started_at timestamptz not null,
        ended_at timestamptz,
        duration_s double precision,
        rows_in bigint,
        rows_out bigint,
        inputs text[] not null default '{}',
        outputs text[] not null default '{}',
        error text,
        attempt integer not null default 1,
        updated_at timestamptz not null default now(),
        primary key (run_id, node)
    )
    """,
    """
    create table if not exists ops.dbt_results (
        run_id text not null,
        command text not null,
        unique_id text not null,
        resource_type text,
        status text not null,
        execution_time_s double precision,
        rows_affected bigint,
        failures bigint,
        message text,
        recorded_at timestamptz not null default now(),
        primary key (run_id, command, unique_id)
    )
    """,
    # databases made before runs had a heartbeat get the column once
    "alter table ops.pipeline_runs add column if not exists heartbeat_at timestamptz",
    # what the run's result depended on (sellout.ops.no_op): a run that finds the same has nothing to do
    "alter table ops.pipeline_runs add column if not exists fingerprint text",
    # the process's memory high-water mark when a node ended: the node where it rises is the one that needed it
    "alter table ops.node_runs add column if not exists peak_rss_mb double precision",
    "create index if not exists node_runs_started on ops.node_runs (started_at desc)",
    "create index if not exists pipeline_runs_started on ops.pipeline_runs (started_at desc)",
)

# Statuses a node or a run can have in the records. A run (and its running nodes) is ``abandoned`` when it stopped
# without a word: its process was killed, so it neither ended nor kept its heartbeat.
RUNNING, SUCCEEDED, FAILED, ABANDONED = "running", "succeeded", "failed", "abandoned"
# A run that found nothing new since the last one (sellout.ops.no_op) ran nothing.
NO_OP = "noop"


def ensure_tables(conn) -> None:
    """Create the schema and tables when missing (safe to call concurrently and repeatedly)."""
    # Two sessions creating the same table at once can still collide on the catalog: serialise creation.
    conn.execute("select pg_advisory_xact_lock(hashtext('sellout.ops.run_records.ddl'))")
    for statement in DDL:
        conn.execute(statement)


def start_run(conn, run: dict[str, Any]) -> None:
    """A session of run ``run_id`` started: insert the run, or mark an existing one running again."""
    conn.execute(
        """
        insert into ops.pipeline_runs (run_id, pipeline, env, mode, dry_run, status, started_at, heartbeat_at)
        values (%(run_id)s, %(pipeline)s, %(env)s, %(mode)s, %(dry_run)s, 'running', %(started_at)s, now())
        on conflict (run_id) do update set
            pipeline = excluded.pipeline, env = excluded.env, mode = excluded.mode, dry_run = excluded.dry_run,
            status = 'running', ended_at = null, error = null, heartbeat_at = now(),
            started_at = least(ops.pipeline_runs.started_at, excluded.started_at),
            sessions = ops.pipeline_runs.sessions + 1, updated_at = now()
        """,
        run,
    )


def end_run(conn, run_id: str, ended_at: datetime, error: str | None) -> None:
    """A session ended: the run's status and totals are recomputed from its node rows (so Airflow tasks add up).

    A run is ``failed`` when the session failed or any node's latest attempt failed, else ``succeeded``.
    """
    conn.execute(
        """
        update ops.pipeline_runs r set
            ended_at = greatest(coalesce(r.ended_at, %(ended_at)s), %(ended_at)s),
            duration_s = extract(epoch from greatest(coalesce(r.ended_at, %(ended_at)s), %(ended_at)s)
                                 - r.started_at),
            nodes_total = n.total, nodes_failed = n.failed, rows_in = n.rows_in, rows_out = n.rows_out,
            status = case when %(error)s::text is not null or n.failed > 0 then 'failed' else 'succeeded' end,
            error = coalesce(%(error)s::text, r.error),
            updated_at = now()
        from (
            select count(*) as total, count(*) filter (where status = 'failed') as failed,
                   sum(rows_in) as rows_in, sum(rows_out) as rows_out
            from ops.node_runs where run_id = %(run_id)s
        ) n
        where r.run_id = %(run_id)s
        """,
        {"run_id": run_id, "ended_at": ended_at, "error": error},
    )


def heartbeat(conn, run_id: str) -> None:
    conn.execute(
        "update ops.pipeline_runs set heartbeat_at = now() where run_id = %s and status = 'running'",
        (run_id,),
    )


def mark_abandoned(conn, older_than_s: float, active_run_id: str | None = None) -> list[str]:
    """Runs still ``running`` whose heartbeat is older than ``older_than_s`` and that are not the active run become
    ``abandoned``, with their running nodes; returns their run ids."""
    abandoned = [
        row[0]
        for row in conn.execute(
            """
            update ops.pipeline_runs set status = 'abandoned', updated_at = now(),
                error = coalesce(error, 'abandoned: the run stopped without ending (killed?); no heartbeat since '
                                        || to_char(coalesce(heartbeat_at, started_at), 'YYYY-MM-DD HH24:MI:SS TZ'))
            where status = 'running'
              and coalesce(heartbeat_at, started_at) < now() - make_interval(secs => %(older)s)
              and run_id is distinct from %(active)s
            returning run_id
            """,
            {"older": float(older_than_s), "active": active_run_id},
        ).fetchall()
    ]
    if abandoned:
        conn.execute(
            "update ops.node_runs set status = 'abandoned', ended_at = coalesce(ended_at, now()), updated_at = now(), "
            "error = coalesce(error, 'the run was abandoned while this node ran') "
            "where run_id = any(%s) and status = 'running'",
            (abandoned,),
        )
    return abandoned


def start_node(conn, record: dict[str, Any]) -> None:
    conn.execute(
        """
        insert into ops.node_runs (run_id, node, pipeline, status, started_at, inputs, outputs)
        values (%(run_id)s, %(node)s, %(pipeline)s, 'running', %(started_at)s, %(inputs)s, %(outputs)s)
        on conflict (run_id, node) do update set
            pipeline = excluded.pipeline, status = 'running', started_at = excluded.started_at,
            ended_at = null, duration_s = null, rows_in = null, rows_out = null, error = null,
            peak_rss_mb = null, inputs = excluded.inputs, outputs = excluded.outputs,
            attempt = ops.node_runs.attempt + 1, updated_at = now()
        """,
        record,
    )


def end_node(conn, record: dict[str, Any]) -> None:
    """Finish a node's row; inserts it when the start was not recorded (e.g. the database came back)."""
    conn.execute(
        """
        insert into ops.node_runs (run_id, node, pipeline, status, started_at, ended_at, duration_s,
                                   rows_in, rows_out, inputs, outputs, error, peak_rss_mb)
        values (%(run_id)s, %(node)s, %(pipeline)s, %(status)s, %(started_at)s, %(ended_at)s, %(duration_s)s,
                %(rows_in)s, %(rows_out)s, %(inputs)s, %(outputs)s, %(error)s, %(peak_rss_mb)s)
        on conflict (run_id, node) do update set
            status = excluded.status, ended_at = excluded.ended_at, duration_s = excluded.duration_s,
            rows_in = excluded.rows_in, rows_out = excluded.rows_out, error = excluded.error,
            peak_rss_mb = excluded.peak_rss_mb, updated_at = now()
        """,
        record,
    )


def save_dbt_results(conn, run_id: str, command: str, results: Iterable[dict[str, Any]]) -> int:
    """Upsert dbt's node results of one command (``run`` / ``test`` ...) of a run; returns how many."""
    rows = [
        {
            "run_id": run_id,
            "command": command,
            "unique_id": str(result["unique_id"]),
            "resource_type": str(result["unique_id"]).split(".", 1)[0],
            "status": str(result.get("status")),
            "execution_time_s": result.get("execution_time"),
            "rows_affected": result.get("rows_affected"),
            "failures": result.get("failures"),
            "message": result.get("message"),
        }
        for result in results
    ]
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            """
            insert into ops.dbt_results (run_id, command, unique_id, resource_type, status, execution_time_s,
                                         rows_affected, failures, message)
            values (%(run_id)s, %(command)s, %(unique_id)s, %(resource_type)s, %(status)s,
                    %(execution_time_s)s, %(rows_affected)s, %(failures)s, %(message)s)
            on conflict (run_id, command, unique_id) do update set
                resource_type = excluded.resource_type, status = excluded.status,
                execution_time_s = excluded.execution_time_s, rows_affected = excluded.rows_affected,
                failures = excluded.failures, message = excluded.message, recorded_at = now()
            """,
            rows,
        )
    return len(rows)


def table_exists(conn, table: str) -> bool:
    row = conn.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s", (SCHEMA, table)
    ).fetchone()
    return row is not None


def query(conn, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Rows as dicts (for ``sellout status`` and tests)."""
    cur = conn.execute(sql, params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
