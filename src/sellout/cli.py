"""The project's commands for the ``kedro`` CLI: ``kedro run`` with every Kedro option, ending with one clear
message (not a traceback) when a run cannot start or fails; ``--verbose`` prints the traceback as well."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import pipelines

from sellout.ops.messages import check_pipeline, explain
from sellout.ops.no_op import NothingNew
from sellout.ops.process_exit import end_process

logger = logging.getLogger(__name__)


@click.group(name="sellout")
def cli() -> None:
    """Project commands."""


def _run(verbose: bool, **kwargs: Any) -> Any:
    try:
        for name in [kwargs.get("pipeline"), *(kwargs.get("pipelines") or [])]:
            if name:
                check_pipeline(name, pipelines.keys())
        result = kedro_run.callback(**kwargs)
    except NothingNew as nothing:
        click.echo(str(nothing))
        end_process(0)
        return None
    except Exception as exc:  # noqa: BLE001 - every failure ends with its message; the traceback on request
        logger.debug("kedro run failed", exc_info=True)
        if verbose:
            traceback.print_exception(exc)
        raise click.ClickException(explain(exc)) from None
    end_process(0)  # a command-line process ends here, without the interpreter's teardown
    return result


run = click.Command(
    name="run",
    callback=_run,
    params=[
        *kedro_run.params,
        click.Option(["--verbose"], is_flag=True, help="Show the traceback of a failure."),
    ],
    help=kedro_run.help,
)
cli.add_command(run)
