"""Checksums of every table and every file: what a test compares to prove that something wrote nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg


def table_checksums(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every table in every schema of the database."""
    result = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            count, digest = conn.execute(
                f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from \"{schema}\".\"{table}\" t"
            ).fetchone()
            result[f"{schema}.{table}"] = (count, digest)
    return result


def file_hashes(*roots: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for root in roots
        if root.exists()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
