"""The ``sellout`` command (also ``python -m sellout``): the embedded database, sample data and runs.

``kedro run`` remains the way to run pipelines with every Kedro option; ``sellout run`` is the short form with
the project's own switches (mode, run id, dry run, backfill, lock) spelled out. Both print one clear message when
a run cannot start or fails (``--verbose`` adds the traceback).

Each subcommand lives in :mod:`sellout.commands` and is imported when it runs, so that ``sellout db url`` does not
pay for Kedro's session, pandas or dbt.
"""

from __future__ import annotations

import importlib

import click

from sellout.ops.messages import explain, is_expected

# name -> "module:attribute" of each subcommand
SUBCOMMANDS = {
    "db": "sellout.commands.database:db",
    "dbt": "sellout.commands.dbt_command:dbt",
    "run": "sellout.commands.run:run",
    "sample": "sellout.commands.sample:sample",
    "sources": "sellout.commands.sources:sources",
    "status": "sellout.commands.status:status",
}


class _Commands(click.Group):
    """Subcommands imported on use; expected problems (configuration, a database that is not there, the run lock)
    end a command with one message and exit 1, not a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS:
            module, attribute = SUBCOMMANDS[cmd_name].split(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, cmd_name)

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


if __name__ == "__main__":
    main()
