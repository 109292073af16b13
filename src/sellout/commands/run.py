"""``sellout run``: a pipeline run with the project's switches, ending with a summary for people."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path

import click

from sellout import api
from sellout.config.backfill import backfill_range
from sellout.ops.process_exit import end_process


@click.command()
@click.option("--pipeline", "-p", default="__default__", show_default=True)
@click.option("--mode", type=click.Choice(["incremental", "full"]), default="incremental", show_default=True)
@click.option("--env", "-e", default=None, help="Kedro environment (default local; prod for Supabase).")
@click.option("--run-id", default=None, help="Use this run id (default: a new one).")
@click.option(
    "--summary", "summary_path", type=click.Path(path_type=Path), help="Also write the summary here."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Resolve the graph, validate the config, check every connection and print the plan; write nothing.",
)
@click.option(
    "--backfill",
    metavar="FROM[:TO]",
    default=None,
    help="Reload the loaded files of these ISO weeks (2026-W05:2026-W08, or one week) and rebuild from them.",
)
@click.option(
    "--no-wait", is_flag=True, help="Stop at once when another run holds the database (default: wait)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole run summary as JSON instead of text.")
@click.option("--verbose", "-v", is_flag=True, help="Show the traceback of a failure.")
def run(
    pipeline: str,
    mode: str,
    env: str | None,
    run_id: str | None,
    summary_path: Path | None,
    dry_run: bool,
    backfill: str | None,
    no_wait: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Run a pipeline and say what it did (stages, rows in and out, forecasts, refresh, report)."""
    params: dict = {}
    if backfill:
        start, _, end = backfill.partition(":")
        try:
            start, end = backfill_range({"backfill_from": start, "backfill_to": end})
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--backfill") from None
        params = {"backfill_from": start, "backfill_to": end}
    if no_wait:
        params["run_control"] = {"lock": "refuse"}
    logging.basicConfig(level=logging.INFO)
    summary = api.run_pipeline(
        pipeline, mode, env=env, run_id=run_id, dry_run=dry_run, params=params, raise_on_error=False
    )
    record = json.dumps(summary.as_dict(), default=str, indent=2)
    if summary_path:
        summary_path.write_text(record + "\n", encoding="utf-8")
    failed = summary.status not in ("succeeded", "noop")
    click.echo(record if as_json else summary.describe(), err=failed and not as_json)
    if failed and verbose and summary.exception is not None:
        traceback.print_exception(summary.exception, file=sys.stderr)
    end_process(1 if failed else 0)  # a command-line process ends here, without the interpreter's teardown
    if failed:
        sys.exit(1)
