"""Schemas that validate the project's config files at start-up.

A wrong key or value stops the run with the file, the key and the reason, before anything is read or written.
"""

from __future__ import annotations

import codecs
import difflib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from sellout.canonical import (
    DAY,
    MAPPABLE_SELLOUT_COLUMNS,
    MEASURES,
    OPEN,
    PRODUCT,
    PRODUCT_FIELDS,
    SALES_VALUE,
    SELLOUT_TEXT_COLUMNS,
    STORE,
    STORE_FIELDS,
    UNITS,
    WEEK,
)
from sellout.config.schema import Strict

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# What a missing value looks like in retailers' exports: an empty field is always one.
DEFAULT_NA_VALUES = ("", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "None", "#N/A")
# Fields a source may set to one fixed value instead of a column (a feed without products: one series per store).
CONSTANT_FIELDS = (PRODUCT, STORE, *SELLOUT_TEXT_COLUMNS)


class CsvOptions(Strict):
    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    thousands: str | None = None
    encoding: str = "utf-8"
    header_row: Annotated[int, Field(ge=0)] = 0  # lines before the header (a title, a merged group row)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(
                f"unknown encoding {value!r}: use a Python codec name such as utf-8, latin-1, cp1252 or utf-16"
            ) from exc
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(
                f"the delimiter is one character (',', ';', a tab as \"\\t\", '|'), got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _distinct_marks(self) -> CsvOptions:
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError(f"thousands and decimal are both {self.decimal!r}: one of them is wrong")
        return self


class FileSpec(Strict):
    """One kind of file of a source: its name pattern, format and column mapping."""

    pattern: str
    format: Literal["csv", "xlsx"] = "csv"
    csv: CsvOptions = CsvOptions()
    sheet: str | int = 0
    columns: dict[str, str]
    date_format: str | None = None
    # Cell texts that mean "no value" (after trimming spaces); an empty optional field is always NULL.
    na_values: list[str] = list(DEFAULT_NA_VALUES)

    @field_validator("columns")
    @classmethod
    def _no_blank_mapping(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [key for key, column in value.items() if not str(column).strip()]
        if blank:
            raise ValueError(
                f"columns {blank} map to an empty file column: name the file's column or remove them"
            )
        return value

    @field_validator("na_values")
    @classmethod
    def _empty_is_missing(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(["", *(str(v).strip() for v in value)]))


class SelloutFileSpec(FileSpec):
    # strptime's directives; an ISO week number (%G, %V; e.g. "KW %V/%G" for "KW 01/2023") dates a row on that
    # week's week_ending_weekday
    date_format: str | None = "%Y-%m-%d"
    # weekly: one row per store, product and week (dated on the week's last day); daily: one row per day, summed
    # into the retailer's weeks at ingest (weeks end on week_ending_weekday).
    frequency: Literal["weekly", "daily"] = "weekly"
    week_ending_weekday: Weekday | None = None
    # Daily feeds: the days a complete week has; a week with fewer reported days is marked incomplete.
    days_per_week: Annotated[int, Field(ge=1, le=7)] = 7
    units_per_case: Annotated[float, Field(gt=0)] = 1.0
    true_values: list[str] = ["1", "true", "True", "TRUE", "Y", "y", "yes", "X", "x"]
    # A file column whose true value marks a row as a return: only such rows may have negative units.
    returns_column: str | None = None
    # Canonical fields with one value for every row (e.g. product_code: ALL for a feed without products).
    constants: dict[str, str] = {}
    # No price column: price = sales_value / units (when both are mapped and units are not zero).
    derive_price: bool = True

    @field_validator("columns")
    @classmethod
    def _canonical_columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(MAPPABLE_SELLOUT_COLUMNS))
        if unknown:
            hints = [
                f"{name!r} -> {close[0]!r}?"
                for name in unknown
                if (close := difflib.get_close_matches(name, MAPPABLE_SELLOUT_COLUMNS, n=1))
            ]
            raise ValueError(
                f"unknown canonical column(s) {unknown}{' (' + ', '.join(hints) + ')' if hints else ''}; "
                f"known: {list(MAPPABLE_SELLOUT_COLUMNS)}"
            )
        return value

    @field_validator("constants")
    @classmethod
    def _constant_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CONSTANT_FIELDS))
        if unknown:
            raise ValueError(
                f"constants {unknown} cannot be fixed values; these can: {list(CONSTANT_FIELDS)}"
            )
        blank = [key for key, text in value.items() if not str(text).strip()]
        if blank:
            raise ValueError(f"constants {blank} are empty: give each a value")
        return {key: str(text).strip() for key, text in value.items()}

    @model_validator(mode="after")
    def _required_fields(self) -> SelloutFileSpec:
        date_field, other = (DAY, WEEK) if self.frequency == "daily" else (WEEK, DAY)
        found: list[str] = []
        if other in self.columns:
            found.append(
                f"a {self.frequency} feed maps {date_field!r}, not {other!r}"
                + (" (or set frequency: daily)" if other == DAY else " (or set frequency: weekly)")
            )
        if self.frequency == "weekly" and OPEN in self.columns:
            found.append("'open' (was the store open that day) is for daily feeds (frequency: daily)")
        both = sorted(set(self.columns) & set(self.constants))
        if both:
            found.append(f"{both} are both mapped to a column and set in constants: keep one")
        for key in (date_field, STORE, PRODUCT):
            if key == date_field and other in self.columns:
                continue  # said above
            if key not in self.columns and key not in self.constants:
                how = (
                    " or set it in constants (e.g. constants: {product_code: ALL})" if key == PRODUCT else ""
                )
                found.append(f"required canonical column {key!r} is not mapped: add it under columns{how}")
        if not any(measure in self.columns for measure in MEASURES):
            found.append(
                "map 'units' (a unit feed) or 'sales_value' (a value-only feed): the rows need a measure"
            )
        if self.frequency == "daily" and self.week_ending_weekday is None:
            found.append(
                "a daily feed needs week_ending_weekday: the weekday the retailer's weeks end on (e.g. sunday)"
            )
        if found:
            raise ValueError("; ".join(found))
        return self

    @property
    def week_number_day(self) -> int:
        """The weekday (Monday = 0) that dates a row whose date is a week number (``date_format`` with ``%V``):
        week_ending_weekday's, Sunday (the ISO week's last day) without one."""
        return WEEKDAYS.index(self.week_ending_weekday) if self.week_ending_weekday else 6

    @property
    def date_field(self) -> str:
        """The canonical column that dates a row: ``date`` for a daily feed, ``week_end_date`` for a weekly one."""
        return DAY if self.frequency == "daily" else WEEK

    @property
    def measure(self) -> str:
        """What the source's rows count: ``units`` when it has them, else ``sales_value``."""
        return UNITS if UNITS in self.columns else SALES_VALUE


class MasterFileSpec(FileSpec):
    """A master data file (stores or products): its columns map the kind's fields, the code first."""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    @field_validator("columns")
    @classmethod
    def _master_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(cls.FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; known: {list(cls.FIELDS)}")
        if cls.FIELDS[0] not in value:
            raise ValueError(f"must map {cls.FIELDS[0]!r} (the code the sell-out rows carry)")
        return value


class StoreFileSpec(MasterFileSpec):
    FIELDS: ClassVar[tuple[str, ...]] = STORE_FIELDS


class ProductFileSpec(MasterFileSpec):
    FIELDS: ClassVar[tuple[str, ...]] = PRODUCT_FIELDS


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
    stores: StoreFileSpec | None = None
    products: ProductFileSpec | None = None
    store_codes: CodeMapping | None = None
    product_codes: CodeMapping | None = None
    delivery_window: DeliveryWindow = DeliveryWindow()
    # Reject sell-out rows whose store or product is not in this source's master data (when it has master files).
    check_master_data: bool = True
    # The landing folder is someone else's archive (a shared data set), not a drop folder: a quarantined file is
    # copied to the quarantine folder and stays where it is; the manifest keeps it from being read again.
    keep_files: bool = False

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
