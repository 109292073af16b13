"""Schemas that validate the project's config files at start-up.

A wrong key or value stops the run with the file, the key and the reason, before anything is read or written.
"""

from __future__ import annotations

import codecs
import difflib
import re
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

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
from sellout.config.schema import ConfigError, Strict

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


def validate_sources(
    raw: dict[str, Any],
    project_path: Path,
    file_label: str = "conf/*/sources.yml",
    env: str | None = None,
    conf_path: Path | None = None,
) -> dict[str, SourceConfig]:
    """Validate the ``sources:`` mapping; raise ConfigError with one line per problem.

    Each line names the file that defines the bad key (``conf/base/sources.yml`` or ``conf/<env>/sources.yml``,
    found by reading the environment's files; ``env`` defaults to the one in ``file_label``
    ``conf/{base,<env>}/...``), the key, what is wrong and how to fix it.
    """
    conf = Path(conf_path) if conf_path is not None else Path(project_path) / "conf"
    origins = SourceFiles(conf, env if env is not None else _env_of(file_label), file_label)
    if not isinstance(raw, dict) or "sources" not in raw:
        raise ConfigError(
            f"{file_label}: top-level key 'sources' is missing (the file starts with 'sources:')"
        )
    entries = raw["sources"]
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(
            f"{origins.label_of(('sources',))}: 'sources' must be a mapping of source name to feed config"
        )
    validated: dict[str, SourceConfig] = {}
    found: list[str] = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            found.append(
                f"{origins.label_of(('sources', name))}: sources.{name}: must be a mapping, got "
                f"{type(entry).__name__}"
            )
            continue
        try:
            validated[name] = SourceConfig(name=name, **entry).with_directory_under(project_path)
        except ValidationError as exc:
            found.extend(_problem_lines(exc, str(name), origins))
    if found:
        raise ConfigError(found)
    return validated


def _env_of(file_label: str) -> str | None:
    match = re.search(r"conf/\{base,([^}]+)\}/", file_label)
    return match.group(1) if match else None


class SourceFiles:
    """The sources*.yml files of ``conf/base`` and ``conf/<env>`` as written (before merging), to say which file
    a key comes from: the environment's file when it sets the key, else base."""

    def __init__(self, conf: Path, env: str | None, fallback: str) -> None:
        self.fallback = fallback
        self.files: list[tuple[str, Any]] = []
        conf = Path(conf)
        for folder in ("base", *([env] if env and env != "base" else [])):
            paths = sorted(
                {*(conf / folder).glob("sources*.y*ml"), *(conf / folder).glob("sources*/**/*.y*ml")}
            )
            for path in paths:
                try:
                    content = yaml.safe_load(path.read_text(encoding="utf-8"))
                except (OSError, yaml.YAMLError):
                    continue
                self.files.append((str(path.relative_to(conf.parent)), content))

    def label_of(self, key: tuple[Any, ...]) -> str:
        """The file that defines the longest prefix of ``key`` (a later file, the environment's, wins a tie)."""
        best, depth = self.fallback, min(2, len(key))  # a source no file names: the fallback label
        for label, content in self.files:
            reached = _depth(content, key)
            if reached >= depth:
                best, depth = label, reached
        return best


def _depth(content: Any, key: tuple[Any, ...]) -> int:
    reached = 0
    for part in key:
        if not isinstance(content, dict) or part not in content:
            break
        content = content[part]
        reached += 1
    return reached


def _problem_lines(exc: ValidationError, name: str, origins: SourceFiles) -> list[str]:
    """``file: key: what is wrong; the fix (got value)``, one line per error."""
    lines = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part != "")
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _did_you_mean(loc) + " (check its spelling and its indentation)"
        elif error["type"] == "missing":
            message = "required key is missing: add it"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        got = ""
        if error["type"] not in ("missing", "extra_forbidden") and "input" in error:
            shown = error["input"]
            if not isinstance(shown, dict | list) or len(repr(shown)) <= 80:
                got = f" (got {shown!r})"
        key = ".".join(str(part) for part in ("sources", name, *loc))
        lines.append(f"{origins.label_of(('sources', name, *loc))}: {key}: {message}{got}")
    return lines


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    """``; did you mean 'x'?`` for an unknown key, from the keys the model at its place knows."""
    model: Any = SourceConfig
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = next(
            (
                candidate
                for candidate in (field.annotation, *typing.get_args(field.annotation))
                if isinstance(candidate, type) and hasattr(candidate, "model_fields")
            ),
            None,
        )
        if model is None:
            return ""
    known = [key for key in getattr(model, "model_fields", {}) if key != "name"]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known keys here: {', '.join(known)}"
