"""What parsing gives back: a file's canonical rows and rejected rows (:class:`ParseResult`), and the whole
file's outcome as the manifest records it (:class:`ParsedFile`: loaded, quarantined or a duplicate).

Rejected rows' reasons name the line and the column as the retailer wrote it
(``line 7, column 'STORE_NUM': empty store code``); ``raw_values`` keeps the row's text by column name, as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from sellout.ingest.landing import LandingFile
from sellout.ingest.reading import TextTable
from sellout.ingest.rejections import Rejections


@dataclass
class ParsedFile:
    """A file read and checked: what loads, what is rejected, or why the whole file is quarantined."""

    landing: LandingFile
    run_id: str
    rows_in_file: int = 0
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    quarantine_reason: str | None = None
    replace_existing: bool = False
    duplicate_of: str | None = None  # the file name whose identical content was loaded
    # rows of the file that went into ``rows`` (a daily file's days become fewer weekly rows); None = len(rows)
    rows_accepted: int | None = None

    @property
    def status(self) -> str:
        if self.duplicate_of:
            return "duplicate"
        return "quarantined" if self.quarantine_reason else "loaded"

    @property
    def rows_loaded(self) -> int:
        """File rows that load (``rows_loaded + rows_rejected = rows_in_file`` for a loaded file)."""
        if self.status != "loaded":
            return 0
        return len(self.rows) if self.rows_accepted is None else self.rows_accepted


@dataclass
class ParseResult:
    """The rows that load (canonical columns), and the rejected rows with their reasons."""

    rows: pd.DataFrame
    text: TextTable
    rejections: Rejections
    accepted: int  # file rows that went into ``rows``

    def __iter__(self):  # good, rejected = parse_sellout(...)
        return iter((self.rows, self.rejected))

    @property
    def rejected_count(self) -> int:
        return int((~self.rejections.ok).sum()) + len(self.text.bad_rows)

    def reason_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for bad in self.text.bad_rows:
            key = f"{bad.fields} fields, the header has {len(self.text.columns)}"
            counts[key] = counts.get(key, 0) + 1
        for key, n in self.rejections.counts().items():
            counts[key] = counts.get(key, 0) + n
        return dict(sorted(counts.items(), key=lambda item: -item[1]))

    def first_rejected(self, n: int = 3) -> list[str]:
        """The first ``n`` rejected rows' reasons, by line."""
        return self.rejected.sort_values("line_no")["reason"].head(n).tolist()

    @cached_property
    def rejected(self) -> pd.DataFrame:
        """``line_no``, ``reason`` (``line N, column 'X': ...``) and ``raw_values`` (the row's text as JSON)."""
        positions = np.flatnonzero(~self.rejections.ok)
        lines = self.text.lines()[positions] if len(positions) else np.array([], dtype=np.int64)
        reasons = [
            _with_line(int(line), body)
            for line, body in zip(lines, self.rejections.detail[positions], strict=False)
        ]
        raws = [json.dumps(row, ensure_ascii=False) for row in self.text.row_texts(positions)]
        header = len(self.text.columns)
        for bad, raw in zip(self.text.bad_rows, self.text.bad_row_texts(), strict=True):
            lines = np.append(lines, bad.line)
            reasons.append(f"line {bad.line}: {bad.fields} fields, the header has {header}")
            raws.append(json.dumps(raw, ensure_ascii=False))
        frame = pd.DataFrame(
            {
                "line_no": np.asarray(lines, dtype=np.int64),
                "reason": pd.Series(reasons, dtype=object),
                "raw_values": pd.Series(raws, dtype=object),
            }
        )
        return frame.sort_values("line_no", kind="stable", ignore_index=True)


def _with_line(line: int, body: str) -> str:
    return f"line {line}, {body}" if body.startswith("column ") else f"line {line}: {body}"
