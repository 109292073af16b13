"""Ingestion: find new retailer files, parse and check them, and hand each to the raw-load dataset."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd

from sellout.config import SourceConfig
from sellout.ingest.landing import LandingFile, scan_sources
from sellout.ingest.parsing import ParsedFile, StructuralError, parse_master, parse_sellout, read_table

logger = logging.getLogger(__name__)


def plan_ingestion(
    sources: dict[str, SourceConfig], ingested_files: pd.DataFrame, run_context: dict[str, Any]
) -> list[LandingFile]:
    """The files to load this run: every matching file whose content is not in the manifest yet.

    In ``full`` mode every file is loaded again, replacing what its earlier load wrote.
    """
    found = scan_sources(sources)
    if run_context["mode"] == "full":
        known: set[tuple[str, str]] = set(
            zip(
                ingested_files.loc[ingested_files["status"] == "quarantined", "source"],
                ingested_files.loc[ingested_files["status"] == "quarantined", "sha256"],
                strict=True,
            )
        )
    else:
        known = set(zip(ingested_files["source"], ingested_files["sha256"], strict=True))
    planned: list[LandingFile] = []
    seen: set[tuple[str, str]] = set()
    for landing in found:
        key = (landing.source, landing.sha256)
        if key in known or key in seen:
            continue
        seen.add(key)
        planned.append(landing)
    logger.info(
        "Ingestion plan (%s): %d file(s) found, %d new or to reload, %d already loaded",
        run_context["mode"],
        len(found),
        len(planned),
        len(found) - len(planned),
    )
    return planned


def parse_files(
    planned: list[LandingFile], sources: dict[str, SourceConfig], run_context: dict[str, Any], params: dict
) -> Iterator[ParsedFile]:
    """Parse each planned file in order, yielding one ParsedFile at a time (each is saved before the next)."""
    started = time.monotonic()
    rows_total = 0
    max_rejected_share = float(params.get("max_rejected_share", 0.05))
    for index, landing in enumerate(planned, start=1):
        parsed = parse_one(landing, sources[landing.source], run_context, max_rejected_share)
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
            len(parsed.rows),
            len(parsed.rejected),
            rows_total,
            elapsed,
            remaining,
        )
        yield parsed


def parse_one(
    landing: LandingFile, source: SourceConfig, run_context: dict[str, Any], max_rejected_share: float
) -> ParsedFile:
    parsed = ParsedFile(
        landing=landing, run_id=run_context["run_id"], replace_existing=run_context["mode"] == "full"
    )
    spec = getattr(source, landing.kind)
    try:
        frame = read_table(landing, spec)
    except StructuralError as exc:
        parsed.quarantine_reason = str(exc)
        return parsed
    parsed.rows_in_file = len(frame)
    if landing.kind != "sellout":
        parsed.rows = parse_master(frame, spec)
        return parsed
    parsed.rows, parsed.rejected = parse_sellout(frame, spec)
    share = len(parsed.rejected) / len(frame)
    if share > max_rejected_share:
        reasons = parsed.rejected["reason"].value_counts().head(3).to_dict()
        parsed.quarantine_reason = f"{len(parsed.rejected)} of {len(frame)} rows rejected ({share:.1%} > {max_rejected_share:.1%}): {reasons}"
    return parsed


def summarize_ingestion(ingested_files: pd.DataFrame, run_context: dict[str, Any]) -> dict[str, Any]:
    """The ingestion status record that the dbt step waits for: what this run loaded and the data's watermark."""
    this_run = ingested_files[ingested_files["run_id"] == run_context["run_id"]]
    loaded = this_run[this_run["status"] == "loaded"]
    sellout = ingested_files[(ingested_files["status"] == "loaded") & (ingested_files["kind"] == "sellout")]
    watermark = sellout["last_week"].max() if len(sellout) else None
    return {
        "run_id": run_context["run_id"],
        "mode": run_context["mode"],
        "files_loaded": int(len(loaded)),
        "files_quarantined": int((this_run["status"] == "quarantined").sum()),
        "rows_loaded": int(loaded["rows_loaded"].fillna(0).sum()),
        "rows_rejected": int(this_run["rows_rejected"].fillna(0).sum()),
        "latest_week": str(watermark) if watermark is not None and not pd.isna(watermark) else None,
    }
