"""``sellout db``: the embedded PostgreSQL server."""

from __future__ import annotations

import sys

import click

from sellout.integrations import embedded_db


@click.group()
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
