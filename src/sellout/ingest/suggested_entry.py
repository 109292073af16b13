"""The suggested ``sources.yml`` entry (:class:`Suggestion`) and its rendering as YAML, with ``# unsure:``
after each value the sample could not settle and the columns left unmapped listed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Suggestion:
    """A ready ``sources.yml`` entry (``entry``), what is unsure about it, and what the sample showed."""

    name: str
    path: Path
    entry: dict
    unsure: dict[str, str] = field(default_factory=dict)  # "sellout.csv.decimal" -> why
    notes: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    sample_rows: int = 0

    def render(self) -> str:
        """The entry as YAML under ``sources:``, with ``# unsure:`` where the sample could not settle a value."""
        sellout = self.entry["sellout"]
        lines = [
            f"# sellout sources suggest {self.path.name}: from a sample of {self.sample_rows:,} rows.",
            "# Check the lines marked 'unsure', then: sellout sources check " + self.name,
            *(f"# note: {note}" for note in self.notes),
            "sources:",
            f"  {self.name}:",
            f"    directory: {_quote(self.entry['directory'])}",
            "    sellout:",
        ]

        def line(indent: int, key: str, value: str, unsure_key: str | None = None) -> None:
            why = self.unsure.get(unsure_key or f"sellout.{key}")
            lines.append(f"{' ' * indent}{key}: {value}" + (f"  # unsure: {why}" if why else ""))

        line(6, "pattern", _quote(sellout["pattern"]))
        line(6, "format", sellout["format"])
        if "sheet" in sellout:
            line(
                6,
                "sheet",
                _quote(sellout["sheet"]) if isinstance(sellout["sheet"], str) else str(sellout["sheet"]),
            )
        options = sellout["csv"]
        flow = ", ".join(
            f"{key}: {_quote(value) if isinstance(value, str) else value}" for key, value in options.items()
        )
        why = [self.unsure[f"sellout.csv.{key}"] for key in options if f"sellout.csv.{key}" in self.unsure]
        lines.append(f"      csv: {{{flow}}}" + (f"  # unsure: {'; '.join(why)}" if why else ""))
        line(6, "date_format", _quote(sellout["date_format"]))
        line(6, "frequency", sellout["frequency"])
        if sellout.get("week_ending_weekday"):
            line(6, "week_ending_weekday", sellout["week_ending_weekday"])
        line(6, "true_values", json.dumps(sellout["true_values"], ensure_ascii=False))
        if sellout.get("na_values"):
            line(6, "na_values", json.dumps(sellout["na_values"], ensure_ascii=False))
        if sellout.get("returns_column"):
            line(6, "returns_column", _quote(sellout["returns_column"]))
        lines.append("      columns:")
        for key, column in sellout["columns"].items():
            line(8, key, _quote(column), f"sellout.columns.{key}")
        if sellout.get("constants"):
            lines.append("      constants:")
            for key, value in sellout["constants"].items():
                line(8, key, _quote(value), f"sellout.constants.{key}")
        if self.unmapped:
            lines.append(f"      # not mapped: {', '.join(self.unmapped)}")
        return "\n".join(lines) + "\n"


def _quote(value: object) -> str:
    return json.dumps(str(value), ensure_ascii=False)
