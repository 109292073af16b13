"""What ``sellout status`` shows: the last runs, their nodes, dbt failures and the last refresh confirmations.

Everything is read from the run-record tables (:mod:`sellout.ops.run_records`); nothing is read from logs. A run
still ``running`` that holds no run lock and whose heartbeat stopped ``abandoned_after_s`` ago was killed: reading
the status marks it ``abandoned`` (with its running nodes), as the next run would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sellout.config.parameters import RunControlParams
from sellout.integrations import db
from sellout.ops import run_records
from sellout.ops.run_lock import active_run


@dataclass
class Status:
    runs: list[dict[str, Any]] = field(default_factory=list)
    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dbt_failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refreshes: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "nodes": self.nodes,
            "dbt_failures": self.dbt_failures,
            "refreshes": self.refreshes,
        }


def load_status(
    url: str,
    *,
    runs: int = 5,
    run_id: str | None = None,
    refreshes: int = 10,
    abandoned_after_s: float = RunControlParams().abandoned_after_s,
) -> Status:
    """The last ``runs`` runs (or the one ``run_id``) with their nodes, and the last refresh confirmations."""
    with db.connect(url, autocommit=True) as conn:
        with conn.transaction():
            run_records.ensure_tables(conn)
            run_records.mark_abandoned(conn, abandoned_after_s, active_run(conn))
        where, params = ("where run_id = %s", (run_id,)) if run_id else ("", ())
        last_runs = run_records.query(
            conn,
            "select run_id, pipeline, env, mode, status, started_at, ended_at, duration_s, nodes_total, "
            f"nodes_failed, rows_in, rows_out, sessions, error from ops.pipeline_runs {where} "
            "order by started_at desc limit %s",
            (*params, runs),
        )
        ids = [r["run_id"] for r in last_runs]
        nodes: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        failures: dict[str, list[dict[str, Any]]] = {}
        if ids:
            for row in run_records.query(
                conn,
                "select run_id, node, status, started_at, duration_s, rows_in, rows_out, inputs, outputs, "
                "attempt, error, peak_rss_mb from ops.node_runs where run_id = any(%s) order by started_at, node",
                (ids,),
            ):
                nodes[row.pop("run_id")].append(row)
            for row in run_records.query(
                conn,
                "select run_id, command, unique_id, status, failures, message from ops.dbt_results "
                "where run_id = any(%s) and status in ('error', 'fail', 'runtime error') order by unique_id",
                (ids,),
            ):
                failures.setdefault(row.pop("run_id"), []).append(row)
        last_refreshes = []
        if run_records.table_exists(conn, "tableau_refreshes"):
            last_refreshes = run_records.query(
                conn,
                "select run_id, item_type, item_name, via, job_id, status, started_at, completed_at, "
                "finish_code, error, updated_at from ops.tableau_refreshes order by updated_at desc limit %s",
                (refreshes,),
            )
    return Status(last_runs, nodes, failures, last_refreshes)


def consecutive_failures(conn, pipeline: str | None = None) -> int:
    """How many of the newest runs (of ``pipeline``, when given) failed in a row: 2 means a repeated failure."""
    rows = run_records.query(
        conn,
        "select status from ops.pipeline_runs where (%(p)s::text is null or pipeline = %(p)s) "
        "and status <> 'running' order by started_at desc limit 50",
        {"p": pipeline},
    )
    count = 0
    for row in rows:
        if row["status"] != "failed":
            break
        count += 1
    return count


def format_status(status: Status) -> str:
    """Plain text for the terminal."""
    lines = ["Last runs:"] if status.runs else ["No runs recorded yet (ops.pipeline_runs is empty)."]
    for run in status.runs:
        lines.append(
            f"  {run['run_id']}  {run['status']:<9} {run['pipeline']}  env={run['env']} mode={run['mode']}  "
            f"started {_t(run['started_at'])}  {_s(run['duration_s'])}  nodes {run['nodes_total'] or 0}"
            f" ({run['nodes_failed'] or 0} failed)  rows in {_n(run['rows_in'])} out {_n(run['rows_out'])}"
        )
        if run.get("error"):
            lines.append(f"      error: {run['error'].splitlines()[0]}")
        for node in status.nodes.get(run["run_id"], []):
            lines.append(
                f"      {node['node']:<28} {node['status']:<9} {_s(node['duration_s']):>8}  "
                f"rows in {_n(node['rows_in'])} out {_n(node['rows_out'])}"
                + (f"  peak {node['peak_rss_mb']:,.0f} MB" if node.get("peak_rss_mb") is not None else "")
                + (f"  attempt {node['attempt']}" if node["attempt"] > 1 else "")
            )
            if node.get("error"):
                lines.append(f"          {node['error'].splitlines()[0]}")
        for failure in status.dbt_failures.get(run["run_id"], []):
            lines.append(f"      dbt {failure['command']} {failure['unique_id']}: {failure['status']}")
    lines.append("Last Tableau refreshes:" if status.refreshes else "No Tableau refresh recorded yet.")
    for refresh in status.refreshes:
        lines.append(
            f"  {refresh['run_id']}  {refresh['item_type']} {refresh['item_name']!r}  {refresh['status']}  "
            f"job {refresh['job_id']}  finishCode {refresh['finish_code']}  "
            f"{_t(refresh['started_at'])} -> {_t(refresh['completed_at'])}  via {refresh['via']}"
        )
    return "\n".join(lines)


def _t(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value or "-")


def _s(value: Any) -> str:
    return f"{float(value):.1f}s" if value is not None else "-"


def _n(value: Any) -> str:
    return f"{int(value):,}" if value is not None else "-"
