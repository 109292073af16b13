"""``sellout sources suggest / check``: onboarding a retailer feed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import yaml

from sellout.config.project import ProjectConfig
from sellout.config.schema import ConfigError
from sellout.config.source_validation import validate_sources
from sellout.ingest.check import check_source
from sellout.ingest.reading import StructuralError
from sellout.ingest.suggest import suggest_source


@click.group()
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
