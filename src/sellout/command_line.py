"""The ``sellout`` command (also ``python -m sellout``): the embedded database, sample data and runs.

``kedro run`` remains the way to run pipelines with every Kedro option; ``sellout run`` is the short form with
the project's own switches (mode, run id, dry run, backfill, lock) spelled out. Both print one clear message when
a run cannot start or fails (``--verbose`` adds the traceback).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import click
import yaml

from sellout import api
from sellout.config.backfill import backfill_range
from sellout.config.parameters import RunControlParams
from sellout.config.project import ProjectConfig
from sellout.config.schema import ConfigError
from sellout.config.source_validation import validate_sources
from sellout.ingest.check import check_source
from sellout.ingest.reading import StructuralError
from sellout.ingest.suggest import suggest_source
from sellout.integrations import db as database
from sellout.integrations import embedded_db
from sellout.integrations.dbt_runner import CANONICAL_VARS, ENV_PREFIX, dbt_env, dbt_project_dir
from sellout.ops.messages import explain, is_expected
from sellout.ops.status import format_status, load_status
from sellout.sample_data import generate


class _Commands(click.Group):
    """Expected problems (configuration, a database that is not there, the run lock) end a command with one
    message and exit 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if not is_expected(exc):
                raise
            raise click.ClickException(explain(exc)) from None


@click.group(cls=_Commands)
def main() -> None:
    """sellout: weekly retailer sell-out files to demand forecasts in Tableau."""


@main.group()
def db() -> None:
    """The embedded PostgreSQL server (the local stand-in for Supabase), data under data/postgres."""


@db.command("start")
def db_start() -> None:
    """Start the server (initialising it on first use) and print its URL."""
    click.echo(embedded_db.start())


@db.command("stop")
def db_stop() -> None:
    """Stop the server."""
    click.echo("stopped" if embedded_db.stop() else "not running")


@db.command("status")
def db_status() -> None:
    """Say whether the server runs, its pid, data directory and URL; exit 1 when it is not running."""
    current = embedded_db.status()
    if current.running:
        click.echo(f"running (pid {current.pid}) data={current.pgdata} url={current.url}")
    else:
        click.echo(f"stopped data={current.pgdata}")
        sys.exit(1)


@db.command("url")
def db_url() -> None:
    """Print the connection URL (starting the server when needed): psql "$(sellout db url)"."""
    click.echo(embedded_db.url())


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.option("--env", "-e", "kedro_env", default=None, help="Kedro environment whose database to use.")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def dbt(kedro_env: str | None, dbt_args: tuple[str, ...]) -> None:
    """Run dbt with the project's database: `sellout dbt debug`, `sellout dbt source freshness` ...

    The connection is the pipeline's (SELLOUT_DB_URL, conf/<env>/credentials.yml, else the embedded server, started
    if needed), handed to dbt/profiles.yml as its SELLOUT_DBT_* variables (the password as a DBT_ENV_SECRET_*
    variable, which dbt keeps out of its logs). Everything after `dbt` (and an optional --env) goes to dbt as it is;
    `sellout dbt --help` is dbt's help. Exits with dbt's exit code.
    """
    args = list(dbt_args)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    if args and not args[0].startswith(
        "-"
    ):  # a dbt command (not --help, --version): the project's dbt and database
        project_dir = str(dbt_project_dir())
        for flag in ("--project-dir", "--profiles-dir"):
            if flag not in args:
                args += [flag, project_dir]
        args = _with_canonical_vars(args)
        project = ProjectConfig(kedro_env)
        environment.update(dbt_env(database.start_if_embedded(project.credentials.get("db"))))
    program = Path(sys.executable).parent / "dbt"
    done = subprocess.run([str(program if program.exists() else shutil.which("dbt") or "dbt"), *args],
                          env=environment, check=False)  # fmt: skip
    sys.exit(done.returncode)


def _with_canonical_vars(args: list[str]) -> list[str]:
    """The vars the models need (manifest statuses, measures) added to the user's own `--vars`, as the pipeline does."""
    given: dict = {}
    if "--vars" in args:
        at = args.index("--vars")
        given = yaml.safe_load(args[at + 1]) if at + 1 < len(args) else {}
        args = args[:at] + args[at + 2 :]
    return [*args, "--vars", json.dumps({**(given or {}), **CANONICAL_VARS}, default=str)]


@main.command()
@click.option(
    "--landing", type=click.Path(path_type=Path), default=Path("data/01_landing"), show_default=True
)
@click.option("--weeks", type=int, default=104, show_default=True, help="Weeks of files per retailer.")
@click.option("--seed", type=int, default=7, show_default=True)
def sample(landing: Path, weeks: int, seed: int) -> None:
    """Write deterministic sample retailer files into the landing folder (more weeks add files)."""
    written = generate(landing, weeks=weeks, seed=seed)
    for retailer, rows in written.items():
        click.echo(f"{retailer}: {weeks} weekly files, {rows} rows -> {landing / retailer}")


@main.command()
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
    if summary.status not in ("succeeded", "noop"):
        if verbose and summary.exception is not None:
            traceback.print_exception(summary.exception, file=sys.stderr)
        sys.exit(1)


@main.command()
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


@main.group()
def sources() -> None:
    """Onboard a retailer feed: suggest a sources.yml entry for a file, check an entry against its files."""


@sources.command("suggest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="The source's name (default: from the file's name).")
@click.option("--directory", default=None, help="The landing folder the entry names (default: the file's).")
def sources_suggest(file: Path, name: str | None, directory: str | None) -> None:
    """Read a sample of FILE and print a ready sources.yml entry; '# unsure:' marks what to check."""
    started = time.perf_counter()
    try:
        suggestion = suggest_source(file, name=name, directory=directory)
    except StructuralError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    click.echo(suggestion.render(), nl=False)
    click.echo(f"# suggested in {time.perf_counter() - started:.2f} s", err=True)


@sources.command("check")
@click.argument("name")
@click.option(
    "--env", "-e", default=None, help="Kedro environment whose sources.yml to read (default local)."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the entry from this YAML file (e.g. what suggest printed) instead of the project's sources.yml.",
)
@click.option(
    "--files",
    "max_files",
    type=int,
    default=3,
    show_default=True,
    help="Newest sell-out files to read (0: all).",
)
def sources_check(name: str, env: str | None, config_file: Path | None, max_files: int) -> None:
    """Check source NAME's entry against the files in its landing folder; writes nothing, exit 1 on an error."""
    project = ProjectConfig(env)
    try:
        if config_file is not None:
            raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
            configured = validate_sources(raw, project.project_path, str(config_file))
        else:
            configured = project.sources
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if name not in configured:
        where = config_file or project.label("sources")
        raise click.ClickException(
            f"no source {name!r} in {where} (sources: {', '.join(configured) or 'none'})"
        )
    share = (project.parameters.get("ingestion") or {}).get("max_rejected_share", 0.05)
    report = check_source(configured[name], max_files=max_files or None, max_rejected_share=share)
    click.echo(report.render())
    if not report.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
