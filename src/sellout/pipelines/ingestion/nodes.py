"""Ingestion: find new retailer files, parse and check them, and hand each to the raw-load dataset."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sellout.config.backfill import backfill_dates
from sellout.config.parameters import IngestionParams
from sellout.config.sources import SourceConfig
from sellout.ingest.field_rules import SUMMARY_LINE
from sellout.ingest.landing import LandingFile
from sellout.ingest.master_files import master_key, parse_master
from sellout.ingest.parsing import parse_sellout
from sellout.ingest.reading import StructuralError, read_text_table
from sellout.ingest.rejections import RuleFailed
from sellout.ingest.results import ParsedFile, ParseResult
from sellout.ingest.row_checks import KnownCodes, RowRules, row_rules

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedFile:
    landing: LandingFile
    duplicate_of: str | None = None  # set: record the file as a duplicate of this one, load nothing
    replace_existing: bool = False  # its content was loaded before: that load's rows and manifest row go


def plan_ingestion(
    landing_files: list[LandingFile],
    ingested_files: pd.DataFrame,
    run_context: dict[str, Any],
    unfinished_reload: pd.DataFrame | None = None,
) -> list[PlannedFile]:
    """The files to handle this run: every matching file whose content is not in the manifest yet, and any file
    whose content arrived before under another name (recorded once as a duplicate).

    In ``full`` mode every loaded file is loaded again, replacing what its earlier load wrote; a backfill
    (``run_context["backfill"]``) does the same for the loaded files whose weeks overlap its range. A full reload
    that was interrupted (``unfinished_reload``: the run, when it did not succeed) is finished: the files it had not
    reloaded yet, those loaded before it started, are loaded again.
    """
    found = landing_files
    reloaded = _to_reload(ingested_files, run_context) | _left_by(unfinished_reload, ingested_files)
    done = ingested_files[~reloaded]
    reloaded_keys = set(
        zip(ingested_files["source"][reloaded], ingested_files["sha256"][reloaded], strict=True)
    )
    first_name = {
        (source, sha): name
        for source, sha, name, status in zip(
            done["source"], done["sha256"], done["file_name"], done["status"], strict=True
        )
        if status != "duplicate"
    }
    recorded = set(
        zip(ingested_files["source"], ingested_files["sha256"], ingested_files["file_name"], strict=True)
    )
    planned: list[PlannedFile] = []
    for landing in found:
        key = (landing.source, landing.sha256)
        if key not in first_name:
            first_name[key] = landing.file_name
            planned.append(PlannedFile(landing, replace_existing=key in reloaded_keys))
        elif first_name[key] != landing.file_name and (*key, landing.file_name) not in recorded:
            planned.append(PlannedFile(landing, duplicate_of=first_name[key]))
    to_load = sum(1 for p in planned if p.duplicate_of is None)
    again = sum(
        1 for p in planned if p.duplicate_of is None and (p.landing.source, p.landing.sha256) in reloaded_keys
    )
    logger.info(
        "Ingestion plan (%s%s): %d file(s) found, %d to load (%d of them again), %d duplicate(s) of earlier "
        "files, %d already handled",
        run_context["mode"],
        _describe_backfill(run_context.get("backfill")),
        len(found),
        to_load,
        again,
        len(planned) - to_load,
        len(found) - len(planned),
    )
    return planned


def _to_reload(ingested_files: pd.DataFrame, run_context: dict[str, Any]) -> pd.Series:
    """Which manifest rows are loads this run repeats: all in ``full`` mode, those in the backfill's weeks."""
    loaded = ingested_files["status"] == "loaded"
    if run_context["mode"] == "full":
        return loaded
    window = backfill_dates(run_context.get("backfill"))
    if window is None:
        return pd.Series(False, index=ingested_files.index)
    first = pd.to_datetime(ingested_files["first_week"]).dt.date
    last = pd.to_datetime(ingested_files["last_week"]).dt.date
    return loaded & (first <= window[1]) & (last >= window[0])


def _left_by(unfinished_reload: pd.DataFrame | None, ingested_files: pd.DataFrame) -> pd.Series:
    """The loaded files an interrupted full reload had not reached (loaded before that run started)."""
    if unfinished_reload is None or unfinished_reload.empty:
        return pd.Series(False, index=ingested_files.index)
    started = pd.to_datetime(unfinished_reload["started_at"], utc=True).iloc[0]
    loaded_at = pd.to_datetime(ingested_files["loaded_at"], utc=True)
    left = (ingested_files["status"] == "loaded") & (loaded_at < started)
    if left.any():
        logger.info(
            "Run %s's full reload was interrupted: %d file(s) it had not reached are loaded again",
            unfinished_reload["run_id"].iloc[0],
            int(left.sum()),
        )
    return left


def _describe_backfill(backfill: dict[str, str] | None) -> str:
    return f", backfill {backfill['from']}..{backfill['to']}" if backfill else ""


def parse_new_files(
    planned: list[PlannedFile],
    sources: dict[str, SourceConfig],
    master_codes: pd.DataFrame,
    code_mappings: dict[tuple[str, str], dict[str, str] | None],
    run_context: dict[str, Any],
    params: IngestionParams,
) -> Iterator[ParsedFile]:
    """Parse each planned file in order, yielding one ParsedFile at a time (each is saved before the next).

    Master data files come first in the plan, so the codes they bring are known when the sell-out rows are checked.
    """
    started = time.monotonic()
    rows_total = 0
    max_rejected_share = IngestionParams.of(params, "ingestion").max_rejected_share
    run_started = pd.Timestamp(run_context["started_at"])
    known = KnownCodes(master_codes)
    code_maps = code_mappings

    def parse(item: PlannedFile) -> ParsedFile:
        landing = item.landing
        source = sources[landing.source]
        if item.duplicate_of:
            return ParsedFile(landing=landing, run_id=run_context["run_id"], duplicate_of=item.duplicate_of)
        try:
            rules = row_rules(source, known, run_started, code_maps)
            parsed = parse_one(
                landing, source, run_context, max_rejected_share, rules, code_maps, item.replace_existing
            )
            if landing.kind != "sellout" and parsed.status == "loaded":
                known.replace(
                    landing.source, landing.kind, parsed.rows[master_key(getattr(source, landing.kind))]
                )
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - one file's problem quarantines that file, not the run
            logger.exception("Unexpected error while reading %s/%s", landing.source, landing.file_name)
            parsed = ParsedFile(
                landing=landing,
                run_id=run_context["run_id"],
                quarantine_reason=unexpected_error(exc, "while reading and checking the file"),
            )
        return parsed

    for index, parsed in enumerate(_parsed_ahead(planned, parse), start=1):
        landing = parsed.landing
        rows_total += parsed.rows_in_file
        elapsed = time.monotonic() - started
        remaining = elapsed / index * (len(planned) - index)
        logger.info(
            "[%d/%d] %s/%s: %s, %d rows, %d rejected (%d rows so far, %.1fs elapsed, ~%.0fs left)",
            index,
            len(planned),
            landing.source,
            landing.file_name,
            parsed.status,
            parsed.rows_loaded,
            len(parsed.rejected),
            rows_total,
            elapsed,
            remaining,
        )
        yield parsed


def _parsed_ahead(planned: list[PlannedFile], parse) -> Iterator[ParsedFile]:
    """``parse(item)`` for each item in order, the next one parsed in a worker thread while the caller saves the
    current one. One worker runs the parses one after another, so a master file's codes are known before the
    next file is checked."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse-ahead") as pool:
        pending = None
        for item in planned:
            upcoming = pool.submit(parse, item)
            if pending is not None:
                yield pending.result()
            pending = upcoming
        if pending is not None:
            yield pending.result()


def parse_one(
    landing: LandingFile,
    source: SourceConfig,
    run_context: dict[str, Any],
    max_rejected_share: float,
    rules: RowRules,
    code_maps: dict,
    replace_existing: bool = False,
) -> ParsedFile:
    """Read and check one file: its rows and rejected rows, or the reason it is quarantined whole."""
    parsed = ParsedFile(landing=landing, run_id=run_context["run_id"], replace_existing=replace_existing)
    spec = getattr(source, landing.kind)
    try:
        text = read_text_table(landing.path, spec)
        parsed.rows_in_file = text.rows_in_file
        if landing.kind == "sellout":
            result = parse_sellout(text, spec, rules)
        else:
            result = parse_master(text, spec, code_maps.get((source.name, landing.kind)))
    except (StructuralError, RuleFailed) as exc:
        parsed.quarantine_reason = str(exc)
        return parsed
    reason = too_many_rejected(result, parsed.rows_in_file, max_rejected_share)
    if reason:
        parsed.quarantine_reason = reason
        return parsed
    parsed.rows, parsed.rejected, parsed.rows_accepted = result.rows, result.rejected, result.accepted
    return parsed


def too_many_rejected(result: ParseResult, rows_in_file: int, max_rejected_share: float) -> str | None:
    """The quarantine reason when more than ``max_rejected_share`` of a file's rows are rejected (its summary
    lines aside): how many, the commonest reasons and the first rejected lines; or when it has no sale at all."""
    counts = result.reason_counts()
    summary = counts.pop(SUMMARY_LINE, 0)
    rejected, rows = result.rejected_count - summary, rows_in_file - summary
    if summary and rows <= 0:
        return f"no sales: every one of the {rows_in_file} rows is {SUMMARY_LINE}"
    share = rejected / rows if rows else 0.0
    if share <= max_rejected_share:
        return None
    reasons = "; ".join(f"{n} x {key}" for key, n in list(counts.items())[:3])
    besides = f" (besides {summary} summary line(s))" if summary else ""
    return (
        f"{rejected} of {rows} rows rejected{besides} ({share:.1%} > {max_rejected_share:.1%}, "
        f"ingestion.max_rejected_share): {reasons}; first: {' | '.join(result.first_rejected(2))}"
    )


def unexpected_error(exc: BaseException, doing: str) -> str:
    message = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"unexpected {type(exc).__name__} {doing}{': ' + message if message else ''} "
        "(the file is quarantined so that the others load; this is a bug, please report it)"
    )


def summarize_ingestion(ingested_files: pd.DataFrame, run_context: dict[str, Any]) -> dict[str, Any]:
    """The ingestion status record that the dbt step waits for: what this run loaded and the data's watermark."""
    this_run = ingested_files[ingested_files["run_id"] == run_context["run_id"]]
    loaded = this_run[this_run["status"] == "loaded"]
    sellout = ingested_files[(ingested_files["status"] == "loaded") & (ingested_files["kind"] == "sellout")]
    watermark = sellout["last_week"].max() if len(sellout) else None
    quarantined = this_run[this_run["status"] == "quarantined"]
    if len(quarantined):
        logger.warning(
            "%d file(s) quarantined this run, the other files loaded (moved to the quarantine folder, reasons "
            "in ops.ingested_files):\n  %s",
            len(quarantined),
            "\n  ".join(f"{r.source}/{r.file_name}: {r.reason}" for r in quarantined.itertuples()),
        )
    return {
        "run_id": run_context["run_id"],
        "mode": run_context["mode"],
        "files_loaded": int(len(loaded)),
        "files_quarantined": int((this_run["status"] == "quarantined").sum()),
        "files_duplicate": int((this_run["status"] == "duplicate").sum()),
        "rows_loaded": int(loaded["rows_loaded"].fillna(0).sum()),
        "rows_rejected": int(this_run["rows_rejected"].fillna(0).sum()),
        "latest_week": str(watermark) if watermark is not None and not pd.isna(watermark) else None,
        "quarantined": [
            {"source": row.source, "file": row.file_name, "reason": row.reason}
            for row in quarantined.itertuples()
        ],
    }
