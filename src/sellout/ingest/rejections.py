"""Which rows of a file are rejected and why, and what happens when a rule itself fails.

The first rule that rejects a row gives its reason (:class:`Rejections`). Each rule runs inside :func:`rule`: an
unexpected exception in one becomes :class:`RuleFailed`, which quarantines the file (naming the rule) instead of
stopping the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from sellout.ingest.reading import StructuralError

_SHOWN_CHARS = 40


class RuleFailed(Exception):
    """A row rule raised an unexpected exception: the file is quarantined with the rule's name."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.rule_name = name
        self.error = error
        message = str(error).splitlines()[0] if str(error) else ""
        super().__init__(
            f"rule {name!r} failed on this file ({type(error).__name__}{': ' + message if message else ''}); "
            "the file is quarantined so that the other files load: this is a bug, please report it"
        )


@contextmanager
def rule(name: str) -> Iterator[None]:
    """Run one rule; an unexpected exception in it becomes :class:`RuleFailed`."""
    try:
        yield
    except (RuleFailed, StructuralError):
        raise
    except Exception as exc:  # noqa: BLE001 - any bug in a rule quarantines one file, not the run
        raise RuleFailed(name, exc) from exc


class Rejections:
    """Which rows are rejected and why: the first rule that rejects a row names its reason.

    ``key`` is a reason without the row's values (to count and summarise); ``detail`` says it for the row.
    """

    def __init__(self, n: int) -> None:
        self.rule = np.full(n, -1, dtype=np.int32)
        self.detail = np.empty(n, dtype=object)
        self.keys: list[str] = []

    @property
    def ok(self) -> np.ndarray:
        return self.rule < 0

    def reject(
        self, mask, key: str, detail: str | Callable[[np.ndarray], list[str] | np.ndarray] | None = None
    ) -> None:
        new = np.asarray(mask, dtype=bool) & (self.rule < 0)
        if not new.any():
            return
        positions = np.flatnonzero(new)
        self.keys.append(key)
        self.rule[positions] = len(self.keys) - 1
        if callable(detail):
            values = detail(positions)
            filled = np.empty(len(positions), dtype=object)
            filled[:] = list(values)
            self.detail[positions] = filled
        else:
            self.detail[positions] = detail or key

    def reject_each(self, mask, key: str, detail_of_row: Callable[[int], str]) -> None:
        """:meth:`reject` with a detail said row by row (``detail_of_row`` takes the row's position)."""
        self.reject(mask, key, lambda positions: [detail_of_row(int(i)) for i in positions])

    def reject_rows(self, details: dict[int, str], key: str) -> None:
        """Reject the rows ``details`` names by position, each with its own detail."""
        mask = np.zeros(len(self.rule), bool)
        mask[list(details)] = True
        self.reject_each(mask, key, details.__getitem__)

    def counts(self) -> dict[str, int]:
        found = self.rule[self.rule >= 0]
        return {self.keys[i]: int(n) for i, n in enumerate(np.bincount(found, minlength=len(self.keys))) if n}


def shown(value: str) -> str:
    """A cell's text as a reason quotes it: cut after a few dozen characters."""
    return repr(value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "...")
