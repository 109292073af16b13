"""``sellout sample``: deterministic sample retailer files."""

from __future__ import annotations

from pathlib import Path

import click

from sellout.sample_data import generate


@click.command()
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
