"""What a person reads when a run cannot start or fails: one clear message, not a traceback.

:func:`explain` turns an exception into that message. Expected problems (configuration, a database that is not
there, the run lock, a bad parameter, an unknown pipeline) say what is wrong and what to do; any other failure says
which run failed, with the first lines of the error and where to look. The traceback is for ``--verbose`` and the
log.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from kedro.io import DatasetError
from kedro.validation.exceptions import ParameterValidationError
from omegaconf.errors import InterpolationResolutionError

from sellout.config.schema import ConfigError
from sellout.integrations.alert_events import first_lines
from sellout.ops.run_lock import RunLockHeld

EXPECTED = (ConfigError, RunLockHeld, ParameterValidationError, InterpolationResolutionError)
# By name, so that printing a message does not import the dry run (and all it checks) into every command.
EXPECTED_BY_NAME = ("DryRunFailed",)


class UnknownPipeline(ValueError):
    """A pipeline name that the registry does not know."""


def check_pipeline(name: str, known: Iterable[str]) -> None:
    known = sorted(known)
    if name in known:
        return
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UnknownPipeline(f"unknown pipeline {name!r}: {hint}the pipelines are {', '.join(known)}")


def innermost(error: BaseException) -> BaseException:
    """The error a dataset wrapped (Kedro's DatasetError says only which dataset failed)."""
    while isinstance(error, DatasetError) and error.__cause__ is not None:
        error = error.__cause__
    return error


def is_expected(error: BaseException) -> bool:
    error = innermost(error)
    return (
        isinstance(error, (*EXPECTED, UnknownPipeline))
        or type(error).__name__ in EXPECTED_BY_NAME
        or _is_database_missing(error)
    )


def explain(error: BaseException, run_id: str | None = None) -> str:
    """One message for a person: what went wrong, and what to do."""
    cause = innermost(error)
    if isinstance(cause, ConfigError):
        return "The configuration has problems:\n" + "\n".join(f"  - {p}" for p in cause.problems)
    if isinstance(cause, ParameterValidationError):
        lines = [line.lstrip("- ") for line in str(cause).splitlines()[1:] if line.strip()]
        return "The parameters have problems (conf/*/parameters*.yml):\n" + "\n".join(
            f"  - {line}" for line in lines
        )
    if isinstance(cause, InterpolationResolutionError):
        return f"The configuration refers to something that is not set: {first_lines(str(cause), lines=2)}"
    if isinstance(cause, RunLockHeld | UnknownPipeline) or type(cause).__name__ in EXPECTED_BY_NAME:
        return str(cause)
    if _is_database_missing(cause):
        return str(cause)
    where = f"; see `sellout status --run-id {run_id}`" if run_id else ""
    return f"Run {run_id or ''} failed: {first_lines(cause, lines=3)}{where}".replace("Run  ", "Run ")


def _is_database_missing(error: BaseException) -> bool:
    return isinstance(error, ConnectionError) and "database" in str(error).lower()
