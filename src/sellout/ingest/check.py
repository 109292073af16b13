"""``sellout sources check NAME``: try a source's entry on the files in its landing folder, writing nothing.

Each sell-out file (the newest ``max_files``) and each master file is read and checked with the same code the
ingestion runs, against the run's delivery window; the findings say what would go wrong and how to fix it: a
folder or a file that is missing, a header that lacks a mapped column, a file the ingestion would quarantine, and
why most of its rows would be rejected (the dates fall on another weekday, the date format fails, every week is
outside the delivery window, the decimal mark is the other one, ...), columns the entry does not map, a master
file the entry names that is not there. The dry run runs the same check (:func:`dry_run_check`).
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from sellout.canonical import NUMERIC_SELLOUT_COLUMNS, STORE
from sellout.config.schema import ConfigError
from sellout.config.sources import WEEKDAYS, SelloutFileSpec, SourceConfig
from sellout.ingest.code_maps import load_code_map
from sellout.ingest.column_profiles import DATE_FORMATS
from sellout.ingest.conversions import parse_dates, parse_numbers, weekday_of
from sellout.ingest.master_files import master_key, parse_master
from sellout.ingest.parsing import parse_sellout
from sellout.ingest.reading import StructuralError, TextTable, read_text_table
from sellout.ingest.rejections import RuleFailed
from sellout.ingest.results import ParseResult
from sellout.ingest.row_checks import KnownCodes, RowRules, row_rules

ERROR, WARNING, INFO = "error", "warning", "info"
MOST = 0.5  # a reason that rejects more than this share of a file's rows is diagnosed


@dataclass(frozen=True)
class Finding:
    level: str  # error (the ingestion would fail or quarantine), warning (rows or checks lost), info
    where: str  # a file name, or the entry's key
    message: str

    def render(self) -> str:
        return f"  {self.level:<7} {self.where}: {self.message}"


@dataclass
class CheckReport:
    source: str
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    rows_checked: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(f.level == ERROR for f in self.findings)

    def add(self, level: str, where: str, message: str) -> None:
        self.findings.append(Finding(level, where, message))

    def render(self) -> str:
        errors = sum(f.level == ERROR for f in self.findings)
        warnings = sum(f.level == WARNING for f in self.findings)
        head = (
            f"{self.source}: {self.files_checked} file(s), {self.rows_checked:,} rows checked in "
            f"{self.seconds:.2f} s: "
            + ("OK" if self.ok else f"{errors} error(s)")
            + (f", {warnings} warning(s)" if warnings else "")
        )
        return "\n".join([head, *(f.render() for f in self.findings)])


def check_source(
    source: SourceConfig,
    today: pd.Timestamp | None = None,
    max_files: int | None = 3,
    max_rejected_share: float = 0.05,
) -> CheckReport:
    """Check ``source``'s entry against the files in its landing folder (``max_files`` newest sell-out files,
    None = all); nothing is written, the database is not read."""
    started = time.perf_counter()
    report = CheckReport(source.name)
    folder = Path(source.directory)
    if not folder.is_dir():
        report.add(
            ERROR, "directory", f"the landing folder {folder} does not exist: create it or fix directory"
        )
        report.seconds = time.perf_counter() - started
        return report
    names = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    maps = _code_maps(source, report)
    known = KnownCodes(pd.DataFrame(columns=["source", "kind", "code"]))
    for kind in ("stores", "products"):
        spec = getattr(source, kind)
        if spec is None:
            continue
        files = [p for p in names if fnmatch.fnmatch(p.name, spec.pattern)]
        if not files:
            report.add(
                WARNING,
                f"{kind}.pattern",
                f"{spec.pattern!r} matches no file in {folder}: the sell-out rows are not checked against "
                f"{kind} master data, and the {kind} dimension carries only the feed's codes (and names)",
            )
            continue
        for path in files:
            result = _read_and_parse(
                path, spec, report, lambda text, s=spec, k=kind: parse_master(text, s, maps[k])
            )
            if result is not None:
                report.files_checked += 1
                report.rows_checked += result.text.rows_in_file
                _report_rejections(report, path.name, result, max_rejected_share, spec=None)
                known.replace(source.name, kind, result.rows[master_key(spec)].astype(str))
    spec = source.sellout
    files = [p for p in names if fnmatch.fnmatch(p.name, spec.pattern)]
    if not files:
        others = ", ".join(p.name for p in names[:5]) + (", ..." if len(names) > 5 else "")
        report.add(
            WARNING,
            "sellout.pattern",
            f"{spec.pattern!r} matches no file in {folder}"
            + (f" (it has: {others})" if names else " (empty)"),
        )
    today = pd.Timestamp(today) if today is not None else pd.Timestamp.now()
    rules = row_rules(source, known, today, {(source.name, kind): m for kind, m in maps.items()})
    for path in files[-max_files:] if max_files else files:
        result = _read_and_parse(path, spec, report, lambda text: parse_sellout(text, spec, rules))
        if result is None:
            continue
        report.files_checked += 1
        report.rows_checked += result.text.rows_in_file
        _report_unmapped(report, path.name, result.text, source)
        _report_rejections(report, path.name, result, max_rejected_share, spec=spec, rules=rules)
    report.seconds = time.perf_counter() - started
    return report


def check_sources(sources: dict[str, SourceConfig], **kwargs) -> list[CheckReport]:
    return [check_source(source, **kwargs) for source in sources.values() if source.enabled]


def dry_run_check(sources: dict[str, SourceConfig]) -> tuple[str, str]:
    """The dry run's "retailer feeds" check: failed when any enabled source's entry would fail on its files."""
    reports = check_sources(sources, max_files=1)
    if not reports:
        return "skipped", "no enabled source"
    problems = [
        f"{r.source}: {f.where}: {f.message}" for r in reports for f in r.findings if f.level == ERROR
    ]
    if problems:
        raise ConfigError(problems)
    warnings = sum(f.level == WARNING for r in reports for f in r.findings)
    checked = ", ".join(f"{r.source} ({r.files_checked} file(s))" for r in reports)
    return "ok", f"{checked} read and checked" + (
        f"; {warnings} warning(s): sellout sources check" if warnings else ""
    )


def _code_maps(source: SourceConfig, report: CheckReport) -> dict[str, dict[str, str] | None]:
    maps: dict[str, dict[str, str] | None] = {}
    for kind, mapping in (("stores", source.store_codes), ("products", source.product_codes)):
        try:
            maps[kind] = load_code_map(mapping, f"sources.{source.name}.{kind[:-1]}_codes")
        except ConfigError as exc:
            report.add(ERROR, f"{kind[:-1]}_codes", str(exc))
            maps[kind] = None
    return maps


def _read_and_parse(path: Path, spec, report: CheckReport, parse) -> ParseResult | None:
    try:
        text = read_text_table(path, spec)
        return parse(text)
    except StructuralError as exc:
        report.add(ERROR, path.name, f"would be quarantined: {exc}")
    except RuleFailed as exc:
        report.add(ERROR, path.name, f"would be quarantined: {exc}")
    return None


def _report_unmapped(report: CheckReport, file_name: str, text: TextTable, source: SourceConfig) -> None:
    used = set(source.sellout.columns.values()) | {source.sellout.returns_column}
    unmapped = [c for c in text.columns if c and c not in used]
    if unmapped:
        report.add(INFO, file_name, f"column(s) not mapped (not loaded): {', '.join(unmapped)}")


def _report_rejections(
    report: CheckReport,
    file_name: str,
    result: ParseResult,
    max_rejected_share: float,
    spec: SelloutFileSpec | None,
    rules: RowRules | None = None,
) -> None:
    rows = result.text.rows_in_file
    rejected = result.rejected_count
    if not rejected:
        return
    counts = result.reason_counts()
    share = rejected / rows
    reasons = "; ".join(f"{n:,} x {key}" for key, n in list(counts.items())[:3])
    first = " | ".join(result.first_rejected(1))
    if share > max_rejected_share:
        report.add(
            ERROR,
            file_name,
            f"would be quarantined: {rejected:,} of {rows:,} rows rejected ({share:.0%}): {reasons} (first: {first})",
        )
    else:
        report.add(
            WARNING, file_name, f"{rejected:,} of {rows:,} rows would be rejected: {reasons} (first: {first})"
        )
    if spec is None:
        return
    for key, n in counts.items():
        if n / rows > MOST:
            fix = diagnose(key, result, spec, rules)
            if fix:
                report.add(ERROR if share > max_rejected_share else WARNING, file_name, fix)


def diagnose(key: str, result: ParseResult, spec: SelloutFileSpec, rules: RowRules | None) -> str | None:
    """What to change in the entry when one reason rejects most rows of a file."""
    text = result.text
    columns = spec.columns
    date_column = columns.get(spec.date_field)
    if "week_ending_weekday" in key and date_column:
        dates = parse_dates(
            pc.utf8_trim_whitespace(text.column(date_column)),
            spec.date_format,
            week_number_day=spec.week_number_day,
        )
        days = weekday_of(dates[~np.isnat(dates)])
        found = sorted(set(days.tolist()))
        if len(found) == 1:
            return (
                f"every date in {date_column!r} is a {WEEKDAYS[found[0]].title()}: set week_ending_weekday: "
                f"{WEEKDAYS[found[0]]}"
            )
        if len(found) >= 3:
            return (
                f"the dates in {date_column!r} fall on {len(found)} weekdays: a daily feed? set frequency: "
                f"daily (and map {date_column!r} as 'date')"
            )
    if "not a date" in key and date_column:
        values = pc.unique(pc.utf8_trim_whitespace(text.column(date_column))).slice(0, 2000)
        for date_format in DATE_FORMATS:
            if not np.isnat(parse_dates(values, date_format)).any():
                return (
                    f"the dates in {date_column!r} look like {values[0].as_py()!r}: set date_format: "
                    f"{date_format!r}"
                )
        return f"no date format of the usual ones reads {date_column!r} (e.g. {values[0].as_py()!r})"
    if "delivery window" in key and date_column and rules is not None:
        parsed = parse_dates(
            pc.utf8_trim_whitespace(text.column(date_column)),
            spec.date_format,
            week_number_day=spec.week_number_day,
        )
        parsed = parsed[~np.isnat(parsed)]
        if len(parsed):
            span = f"{np.datetime_as_string(parsed.min(), 'D')}..{np.datetime_as_string(parsed.max(), 'D')}"
            if "before" in key:
                return (
                    f"the file's dates run {span}, before the window's start {rules.earliest_week.date()}: raise "
                    "or remove delivery_window.max_age_weeks"
                )
            return (
                f"the file's dates run {span}, after the window's end {rules.latest_week.date()}: raise "
                "delivery_window.max_future_days"
            )
    if "not a number" in key:
        for column in NUMERIC_SELLOUT_COLUMNS:
            if column in columns and columns[column] in key:
                values = pc.utf8_trim_whitespace(text.column(columns[column]))
                other = "," if spec.csv.decimal == "." else "."
                _, bad = parse_numbers(values, other, spec.csv.decimal if spec.csv.decimal != other else None)
                if not bad.all():
                    return f"{columns[column]!r} reads as numbers with csv.decimal {other!r}: set it"
    if "fields, the header has" in key:
        return (
            "most rows have another number of fields than the header: check csv.delimiter and header_row "
            "(or a delimiter at the end of every data line)"
        )
    if "master data" in key:
        which = "store" if columns.get(STORE, "") in key else "product"
        return (
            f"most {which} codes are not in the {which} master file: check its columns mapping (the code column) "
            "or set check_master_data: false"
        )
    if "no mapping to a company code" in key:
        which = "store" if columns.get(STORE, "") in key else "product"
        return f"most {which} codes have no mapping: check {which}_codes (file, from_column) or set unmapped: keep"
    return None
