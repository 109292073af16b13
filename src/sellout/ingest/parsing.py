"""Parse one retailer file into canonical rows, keeping every rejected row with its line and reason."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sellout.config import FileSpec, SelloutFileSpec
from sellout.ingest.landing import LandingFile

NUMERIC_COLUMNS = ("units", "sales_value", "price", "base_price")
FLAG_COLUMNS = ("feature", "display", "tpr_only")
KEY_COLUMNS = ("store_code", "product_code")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class StructuralError(ValueError):
    """The whole file is unusable (unreadable, wrong encoding, missing columns, no rows)."""


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

    @property
    def status(self) -> str:
        return "quarantined" if self.quarantine_reason else "loaded"


def read_table(landing: LandingFile, spec: FileSpec) -> pd.DataFrame:
    """Read the file as text cells; raise StructuralError with the reason when it cannot be read."""
    try:
        if spec.format == "xlsx":
            frame = pd.read_excel(landing.path, sheet_name=spec.sheet, dtype=str, header=spec.csv.header_row)
        else:
            frame = pd.read_csv(
                landing.path,
                sep=spec.csv.delimiter,
                encoding=spec.csv.encoding,
                header=spec.csv.header_row,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                compression="infer",
                skip_blank_lines=True,
            )
    except UnicodeDecodeError as exc:
        raise StructuralError(
            f"not valid {spec.csv.encoding} text ({exc.reason} at byte {exc.start})"
        ) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise StructuralError(f"compressed file is damaged or truncated ({exc})") from None
    except pd.errors.EmptyDataError:
        raise StructuralError("file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise StructuralError(f"file cannot be parsed: {str(exc).splitlines()[0]}") from None
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    missing = [column for column in spec.columns.values() if column not in frame.columns]
    if missing:
        raise StructuralError(f"required column(s) {missing} not in header {list(frame.columns)}")
    if frame.empty:
        raise StructuralError("file has a header but no data rows")
    return frame


def parse_sellout(frame: pd.DataFrame, spec: SelloutFileSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map a raw sell-out frame to canonical columns; return (good rows, rejected rows with reasons)."""
    line_no = np.arange(len(frame), dtype="int64") + spec.csv.header_row + 2
    out = pd.DataFrame({"line_no": line_no})
    reasons = pd.Series("", index=frame.index, dtype=object)

    def reject(mask: pd.Series, reason: str) -> None:
        mask = mask & (reasons == "")
        reasons[mask] = reason

    week = _parse_dates(frame[spec.columns["week_end_date"]], spec.date_format)
    reject(week.isna(), f"unparseable date in column {spec.columns['week_end_date']!r}")
    if spec.week_ending_weekday is not None:
        weekday = WEEKDAYS.index(spec.week_ending_weekday)
        reject(
            week.notna() & (week.dt.day_of_week != weekday),
            f"week ending date is not a {spec.week_ending_weekday}",
        )
    out["week_end_date"] = week.to_numpy()

    for key in KEY_COLUMNS:
        values = frame[spec.columns[key]].astype("string").str.strip()
        reject(values.isna() | (values == ""), f"empty {key} in column {spec.columns[key]!r}")
        out[key] = values.to_numpy()

    for column in NUMERIC_COLUMNS:
        if column not in spec.columns:
            out[column] = np.nan
            continue
        text = frame[spec.columns[column]]
        numbers = _parse_numbers(text, spec.csv.decimal, spec.csv.thousands)
        reject(text.notna() & numbers.isna(), f"non-numeric {column} in column {spec.columns[column]!r}")
        out[column] = numbers.to_numpy()
    reject(pd.Series(np.isnan(out["units"].to_numpy()), index=frame.index), "missing units")
    out["units"] = out["units"] * spec.units_per_case

    for column in FLAG_COLUMNS:
        if column not in spec.columns:
            out[column] = False
            continue
        text = frame[spec.columns[column]].astype("string").str.strip()
        out[column] = text.isin(spec.true_values).fillna(False).to_numpy()

    good = (reasons == "").to_numpy()
    rejected = pd.DataFrame(
        {
            "line_no": line_no[~good],
            "reason": reasons[~good].to_numpy(),
            "raw_values": frame.loc[~good].astype("string").fillna("").agg("|".join, axis=1).to_numpy()
            if (~good).any()
            else np.array([], dtype=object),
        }
    )
    return out.loc[good].reset_index(drop=True), rejected


def parse_master(frame: pd.DataFrame, spec: FileSpec) -> pd.DataFrame:
    """Map a store or product master file to canonical columns (text, keys stripped, duplicates dropped)."""
    out = pd.DataFrame({field_name: frame[column] for field_name, column in spec.columns.items()})
    key = next(iter(spec.columns))
    out[key] = out[key].astype("string").str.strip()
    if "sales_area" in out:
        out["sales_area"] = pd.to_numeric(out["sales_area"], errors="coerce")
    out = out[out[key].notna() & (out[key] != "")]
    return out.drop_duplicates(subset=[key], keep="last").reset_index(drop=True)


def _parse_dates(text: pd.Series, date_format: str | None) -> pd.Series:
    return pd.to_datetime(text.str.strip(), format=date_format, errors="coerce")


def _parse_numbers(text: pd.Series, decimal: str, thousands: str | None) -> pd.Series:
    cleaned = text.astype("string").str.strip()
    if thousands:
        cleaned = cleaned.str.replace(thousands, "", regex=False)
    if decimal == ",":
        cleaned = cleaned.str.replace(",", ".", regex=False)
    return pd.to_numeric(cleaned, errors="coerce").astype("float64")
