"""Parse one retailer file into canonical rows, keeping every rejected row with its line and reason."""

from __future__ import annotations

import gzip
import zlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sellout.canonical import NUMERIC_SELLOUT_COLUMNS, PROMO_FLAGS
from sellout.config.sources import FileSpec, SelloutFileSpec
from sellout.ingest.landing import LandingFile

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class StructuralError(ValueError):
    """The whole file is unusable (unreadable, wrong encoding, missing columns, no rows)."""


@dataclass(frozen=True)
class RowRules:
    """What a sell-out row must satisfy beyond its own columns: the delivery window, code mappings and the
    master data its codes must appear in (None = not checked)."""

    earliest_week: pd.Timestamp | None = None
    latest_week: pd.Timestamp | None = None
    store_map: dict[str, str] | None = None
    product_map: dict[str, str] | None = None
    keep_unmapped_stores: bool = False
    keep_unmapped_products: bool = False
    known_stores: frozenset[str] | None = None
    known_products: frozenset[str] | None = None


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

    @property
    def status(self) -> str:
        if self.duplicate_of:
            return "duplicate"
        return "quarantined" if self.quarantine_reason else "loaded"


def read_table(landing: LandingFile, spec: FileSpec, numeric_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read the file as text cells; raise StructuralError with the reason when it cannot be read.

    ``numeric_columns`` (file column names) are first read as numbers by the CSV parser itself, which is several
    times faster than parsing text; a file where one of them holds a non-number is read again as text, so that
    the row checks can name the bad cells.
    """
    try:
        if spec.format == "xlsx":
            frame = pd.read_excel(landing.path, sheet_name=spec.sheet, dtype=str, header=spec.csv.header_row)
        else:
            frame = None
            if numeric_columns:
                try:
                    frame = _read_csv(landing, spec, {column: "float64" for column in numeric_columns})
                except ValueError:
                    frame = None  # a non-number somewhere (or a structural fault): read as text below
            if frame is None:
                frame = _read_csv(landing, spec, {})
    except UnicodeDecodeError as exc:
        raise StructuralError(
            f"not valid {spec.csv.encoding} text ({exc.reason} at byte {exc.start})"
        ) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise StructuralError(f"compressed file is damaged or truncated ({exc})") from None
    except pd.errors.EmptyDataError:
        raise StructuralError("file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError, KeyError) as exc:
        raise StructuralError(
            f"file cannot be parsed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    missing = [column for column in spec.columns.values() if column not in frame.columns]
    if missing:
        raise StructuralError(f"required column(s) {missing} not in header {list(frame.columns)}")
    if frame.empty:
        raise StructuralError("file has a header but no data rows")
    return frame


def _read_csv(landing: LandingFile, spec: FileSpec, dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.read_csv(
        landing.path,
        sep=spec.csv.delimiter,
        # utf-8-sig: a byte order mark is not part of the first column's name
        encoding="utf-8-sig" if spec.csv.encoding.lower().replace("_", "-") == "utf-8" else spec.csv.encoding,
        header=spec.csv.header_row,
        dtype=defaultdict(lambda: "str", dtypes),
        decimal=spec.csv.decimal,
        thousands=spec.csv.thousands,
        keep_default_na=False,
        na_values=[""],
        compression="infer",
        skip_blank_lines=True,
        engine="c",
    )


def parse_sellout(
    frame: pd.DataFrame, spec: SelloutFileSpec, rules: RowRules = RowRules()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map a raw sell-out frame to canonical columns; return (good rows, rejected rows with reasons).

    The first failing check names a row's reason; every row of the file ends up in exactly one of the two.
    """
    line_no = np.arange(len(frame), dtype="int64") + spec.csv.header_row + 2
    out = pd.DataFrame({"line_no": line_no})
    reasons = np.full(len(frame), "", dtype=object)

    def reject(mask, reason) -> None:
        mask = np.asarray(mask, dtype=bool) & (reasons == "")
        if mask.any():
            reasons[mask] = reason if isinstance(reason, str) else np.asarray(reason, dtype=object)[mask]

    date_column = spec.columns["week_end_date"]
    week = _parse_dates(frame[date_column], spec.date_format, spec.format == "xlsx")
    reject(week.isna(), f"unparseable date in column {date_column!r}")
    if spec.week_ending_weekday is not None:
        weekday = WEEKDAYS.index(spec.week_ending_weekday)
        reject(
            week.notna() & (week.dt.day_of_week != weekday),
            f"week ending date is not a {spec.week_ending_weekday}",
        )
    if rules.latest_week is not None:
        reject(
            week > rules.latest_week,
            f"week {date_column!r} is after the delivery window (later than {rules.latest_week.date()})",
        )
    if rules.earliest_week is not None:
        reject(
            week < rules.earliest_week,
            f"week {date_column!r} is before the delivery window (earlier than {rules.earliest_week.date()})",
        )
    out["week_end_date"] = week.to_numpy()

    for key, mapping, keep_unmapped, known in (
        ("store_code", rules.store_map, rules.keep_unmapped_stores, rules.known_stores),
        ("product_code", rules.product_map, rules.keep_unmapped_products, rules.known_products),
    ):
        column = spec.columns[key]
        values = frame[column].astype("str").str.strip()
        empty = frame[column].isna() | (values == "")
        reject(empty, f"empty {key} in column {column!r}")
        if mapping is not None:
            mapped = values.map(mapping)
            if not keep_unmapped:
                reject(mapped.isna() & ~empty, f"{key} in column {column!r} has no mapping to a company code")
            values = mapped.fillna(values)
        if known is not None:
            reject(~values.isin(known) & ~empty, f"unknown {key} (not in the source's master data)")
        out[key] = values.reset_index(drop=True)  # stays an Arrow-backed string column

    for column in NUMERIC_SELLOUT_COLUMNS:
        if column not in spec.columns:
            out[column] = np.nan
            continue
        text = frame[spec.columns[column]]
        numbers = _parse_numbers(text, spec.csv.decimal, spec.csv.thousands)
        reject(text.notna() & numbers.isna(), f"non-numeric {column} in column {spec.columns[column]!r}")
        out[column] = numbers.to_numpy()
    reject(np.isnan(out["units"].to_numpy()), "missing units")
    out["units"] = out["units"] * spec.units_per_case

    is_return = (
        _flags(frame, spec.returns_column, spec.true_values)
        if spec.returns_column
        else np.zeros(len(frame), bool)
    )
    reject((out["units"].to_numpy() < 0) & ~is_return, "negative units on a row not marked as a return")

    for column in PROMO_FLAGS:
        out[column] = _flags(frame, spec.columns.get(column), spec.true_values)

    key = out[["store_code", "product_code", "week_end_date"]]
    candidate = reasons == ""
    duplicated = key[candidate].duplicated(keep="first")
    if duplicated.any():
        first_line = (
            out.loc[candidate]
            .groupby(["store_code", "product_code", "week_end_date"], sort=False)["line_no"]
            .transform("first")
        )
        mask = np.zeros(len(frame), bool)
        mask[np.flatnonzero(candidate)[duplicated.to_numpy()]] = True
        detail = np.full(len(frame), "", dtype=object)
        detail[np.flatnonzero(candidate)] = "duplicate of line " + first_line.astype(str).to_numpy()
        reject(mask, detail)

    good = reasons == ""
    bad_frame = frame.loc[~good]
    rejected = pd.DataFrame(
        {
            "line_no": line_no[~good],
            "reason": reasons[~good],
            "raw_values": bad_frame.astype("str").fillna("").agg("|".join, axis=1).to_numpy()
            if len(bad_frame)
            else np.array([], dtype=object),
        }
    )
    return out.loc[good].reset_index(drop=True), rejected


def parse_master(frame: pd.DataFrame, spec: FileSpec, code_map: dict[str, str] | None = None) -> pd.DataFrame:
    """Map a store or product master file to canonical columns (keys mapped and stripped, duplicates dropped)."""
    out = pd.DataFrame({field_name: frame[column] for field_name, column in spec.columns.items()})
    key = master_key(spec)
    out[key] = out[key].astype("str").str.strip()
    if code_map:
        out[key] = out[key].map(code_map).fillna(out[key])
    if "sales_area" in out:
        out["sales_area"] = pd.to_numeric(out["sales_area"], errors="coerce")
    out = out[out[key].notna() & (out[key] != "")]
    return out.drop_duplicates(subset=[key], keep="last").reset_index(drop=True)


def master_key(spec: FileSpec) -> str:
    """The code column of a master data file: store_code for stores, product_code for products."""
    return "store_code" if "store_code" in spec.columns else "product_code"


def _flags(frame: pd.DataFrame, column: str | None, true_values: list[str]) -> np.ndarray:
    if column is None:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].astype("str").str.strip().isin(true_values).fillna(False).to_numpy(dtype=bool)


def _parse_dates(text: pd.Series, date_format: str | None, from_spreadsheet: bool) -> pd.Series:
    cleaned = text.astype("str").str.strip()
    parsed = pd.to_datetime(cleaned, format=date_format, errors="coerce")
    if from_spreadsheet:
        # a spreadsheet's date cells arrive as ISO timestamps; the configured format is for text cells
        parsed = parsed.fillna(pd.to_datetime(cleaned, format="ISO8601", errors="coerce"))
    return parsed.astype("datetime64[ns]")


def _parse_numbers(text: pd.Series, decimal: str, thousands: str | None) -> pd.Series:
    if pd.api.types.is_float_dtype(text.dtype):  # already parsed by the CSV reader
        return text
    cleaned = text.astype("str").str.strip()
    if thousands:
        cleaned = cleaned.str.replace(thousands, "", regex=False)
    if decimal == ",":
        cleaned = cleaned.str.replace(",", ".", regex=False)
    return pd.to_numeric(cleaned, errors="coerce").astype("float64")
