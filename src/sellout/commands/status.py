"""``sellout status``: the last runs, their nodes and the last Tableau refreshes."""

from __future__ import annotations

import json

import click

from sellout.config.parameters import RunControlParams
from sellout.config.project import ProjectConfig
from sellout.integrations import db as database
from sellout.ops.status import format_status, load_status


@click.command()
@click.option("--runs", type=int, default=5, show_default=True, help="How many of the last runs to show.")
@click.option("--run-id", default=None, help="Show this run only.")
@click.option("--env", "-e", default=None, help="Kedro environment whose database to read (default local).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--abandoned-after",
    type=float,
    default=None,
    metavar="SECONDS",
    help="A running run without a heartbeat for this long (and no run lock) is abandoned "
    "(default: run_control.abandoned_after_s).",
)
def status(
    runs: int, run_id: str | None, env: str | None, as_json: bool, abandoned_after: float | None
) -> None:
    """The last runs, their nodes (status, duration, rows) and the last Tableau refresh confirmations."""
    project = ProjectConfig(env)
    url = database.resolve_url(project.credentials.get("db"))
    if abandoned_after is None:
        abandoned_after = RunControlParams.of(
            project.parameters.get("run_control"), "run_control"
        ).abandoned_after_s
    current = load_status(url, runs=runs, run_id=run_id, abandoned_after_s=abandoned_after)
    if as_json:
        click.echo(json.dumps(current.as_dict(), default=str, indent=2))
    else:
        click.echo(format_status(current))
