"""The columns a file's entry maps, by canonical field: their text trimmed, which cells are missing values, the
flags they hold, and how a reason names them (the column as the retailer wrote it)."""

from __future__ import annotations

import difflib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sellout.config.sources import FileSpec
from sellout.ingest.conversions import true_mask
from sellout.ingest.reading import StructuralError, TextTable


class Columns:
    """The mapped columns of a file: its text by canonical field, trimmed, and which cells are missing values."""

    def __init__(self, text: TextTable, spec: FileSpec, extra: tuple[str, ...] = ()) -> None:
        self.text = text
        self.spec = spec
        self.names = dict(spec.columns)
        wanted = [*self.names.values(), *extra]
        missing = [column for column in dict.fromkeys(wanted) if column not in text.columns]
        if missing:
            raise StructuralError(_missing_columns(missing, text.columns))
        twice = sorted({c for c in wanted if text.columns.count(c) > 1})
        if twice:
            raise StructuralError(
                f"column(s) {twice} appear more than once in the header: rename one of them"
            )
        self._na = pa.array(spec.na_values, type=pa.string())
        self._trimmed: dict[str, pa.Array] = {}

    def raw(self, field: str) -> pa.Array:
        return self.text.column(self.names[field])

    def trimmed(self, field: str) -> pa.Array:
        if field not in self._trimmed:
            self._trimmed[field] = pc.utf8_trim_whitespace(self.raw(field))
        return self._trimmed[field]

    def missing(self, field: str) -> np.ndarray:
        return true_mask(pc.is_in(self.trimmed(field), value_set=self._na))

    def label(self, field: str) -> str:
        return f"column {self.names[field]!r}"

    def nullable_text(self, field: str) -> pa.Array:
        """The field's trimmed text, null where the cell is a missing value."""
        return pc.if_else(self.missing(field), pa.scalar(None, pa.string()), self.trimmed(field))

    def flags(self, field: str, true_values: list[str]) -> np.ndarray:
        """True where the field's cell is one of ``true_values``; all False when the entry does not map it."""
        if field not in self.names:
            return np.zeros(self.text.num_rows, dtype=bool)
        return _is_true(self.trimmed(field), true_values)

    def column_flags(self, column: str, true_values: list[str]) -> np.ndarray:
        """:meth:`flags` of a column no field maps, by its name in the header (the returns column)."""
        return _is_true(pc.utf8_trim_whitespace(self.text.column(column)), true_values)


def _is_true(text: pa.Array, true_values: list[str]) -> np.ndarray:
    return true_mask(pc.is_in(text, value_set=pa.array(true_values, type=pa.string())))


def _missing_columns(missing: list[str], header: list[str]) -> str:
    hints = []
    for column in missing:
        close = difflib.get_close_matches(column, header, n=1, cutoff=0.6)
        lowered = [c for c in header if c.strip().lower() == column.strip().lower()]
        if lowered or close:
            hints.append(f"{column!r} -> {(lowered or close)[0]!r}?")
    return (
        f"required column(s) {missing} not in header {header}"
        + (f" ({', '.join(hints)})" if hints else "")
        + ": check the delimiter, header_row and the columns mapping"
    )
