"""Schemas that validate the project's config files at start-up.

A wrong key or value stops the run with the file, the key and the reason, before anything is read or written.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from sellout.canonical import (
    CANONICAL_SELLOUT_COLUMNS,
    PRODUCT_FIELDS,
    REQUIRED_SELLOUT_COLUMNS,
    STORE_FIELDS,
)
from sellout.config.schema import ConfigError, Strict, problems


class CsvOptions(Strict):
    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    thousands: str | None = None
    encoding: str = "utf-8"
    header_row: Annotated[int, Field(ge=0)] = 0

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r}") from exc
        return value


class FileSpec(Strict):
    """One kind of file of a source: its name pattern, format and column mapping."""

    pattern: str
    format: Literal["csv", "xlsx"] = "csv"
    csv: CsvOptions = CsvOptions()
    sheet: str | int = 0
    columns: dict[str, str]
    date_format: str | None = None

    @field_validator("columns")
    @classmethod
    def _no_blank_mapping(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [key for key, column in value.items() if not str(column).strip()]
        if blank:
            raise ValueError(f"columns {blank} map to an empty file column")
        return value


class SelloutFileSpec(FileSpec):
    date_format: str | None = "%Y-%m-%d"
    week_ending_weekday: (
        Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] | None
    ) = None
    units_per_case: Annotated[float, Field(gt=0)] = 1.0
    true_values: list[str] = ["1", "true", "True", "TRUE", "Y", "y", "yes", "X", "x"]
    # A file column whose true value marks a row as a return: only such rows may have negative units.
    returns_column: str | None = None

    @field_validator("columns")
    @classmethod
    def _canonical_columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CANONICAL_SELLOUT_COLUMNS))
        if unknown:
            raise ValueError(
                f"unknown canonical column(s) {unknown}; known: {list(CANONICAL_SELLOUT_COLUMNS)}"
            )
        missing = [c for c in REQUIRED_SELLOUT_COLUMNS if c not in value]
        if missing:
            raise ValueError(f"required canonical column(s) {missing} are not mapped")
        return value


class CodeMapping(Strict):
    """How a retailer's store or product codes become the company's: a two-column CSV file and/or inline pairs.

    ``file`` is relative to the project root; ``from_column``/``to_column`` name its columns.
    """

    file: str | None = None
    from_column: str = "retailer_code"
    to_column: str = "company_code"
    values: dict[str, str] = {}
    unmapped: Literal["reject", "keep"] = "reject"

    @model_validator(mode="after")
    def _something_to_map(self) -> CodeMapping:
        if self.file is None and not self.values:
            raise ValueError("a code mapping needs a 'file' or 'values'")
        return self


class DeliveryWindow(Strict):
    """Which weeks a delivery may contain, relative to the run's date: rows outside are rejected."""

    max_future_days: Annotated[int, Field(ge=0)] = 7
    max_age_weeks: Annotated[int, Field(gt=0)] | None = None


class SourceConfig(Strict):
    """A retailer feed."""

    name: str
    enabled: bool = True
    directory: str
    sellout: SelloutFileSpec
    stores: FileSpec | None = None
    products: FileSpec | None = None
    store_codes: CodeMapping | None = None
    product_codes: CodeMapping | None = None
    delivery_window: DeliveryWindow = DeliveryWindow()
    # Reject sell-out rows whose store or product is not in this source's master data (when it has master files).
    check_master_data: bool = True

    @model_validator(mode="after")
    def _master_columns(self) -> SourceConfig:
        for kind, spec, fields in (
            ("stores", self.stores, STORE_FIELDS),
            ("products", self.products, PRODUCT_FIELDS),
        ):
            if spec is None:
                continue
            unknown = sorted(set(spec.columns) - set(fields))
            if unknown:
                raise ValueError(f"{kind}.columns has unknown field(s) {unknown}; known: {list(fields)}")
            key = fields[0]  # the code column, whatever the mapping's order
            if key not in spec.columns:
                raise ValueError(f"{kind}.columns must map {key!r}")
        return self

    def with_directory_under(self, project_path: Path) -> SourceConfig:
        """The same source with its directory and mapping files made absolute (relative to the project root)."""
        update: dict[str, Any] = {"directory": _absolute(self.directory, project_path)}
        for key in ("store_codes", "product_codes"):
            mapping = getattr(self, key)
            if mapping is not None and mapping.file:
                update[key] = mapping.model_copy(update={"file": _absolute(mapping.file, project_path)})
        return self.model_copy(update=update)


def _absolute(path: str, project_path: Path) -> str:
    resolved = Path(path).expanduser()
    return str((resolved if resolved.is_absolute() else project_path / resolved).resolve())


def validate_sources(
    raw: dict[str, Any], project_path: Path, file_label: str = "conf/*/sources.yml"
) -> dict[str, SourceConfig]:
    """Validate the ``sources:`` mapping; raise ConfigError naming the file, the key and the reason."""
    if not isinstance(raw, dict) or "sources" not in raw:
        raise ConfigError(f"{file_label}: top-level key 'sources' is missing")
    entries = raw["sources"]
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{file_label}: 'sources' must be a mapping of source name to feed config")
    validated: dict[str, SourceConfig] = {}
    found: list[str] = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            found.append(f"{file_label}: sources.{name}: must be a mapping, got {type(entry).__name__}")
            continue
        try:
            validated[name] = SourceConfig(name=name, **entry).with_directory_under(project_path)
        except ValidationError as exc:
            found.extend(problems(exc, f"sources.{name}", file_label))
    if found:
        raise ConfigError(found)
    return validated
