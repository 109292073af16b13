"""Throw-away databases on the test session's embedded PostgreSQL server (the `pg_server` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def temporary_database(server_url: str, prefix: str = "t") -> Iterator[str]:
    """A new empty database on the server of ``server_url`` (the `sellout` database's URL); dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_url = server_url.replace("/sellout?", "/postgres?")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield server_url.replace("/sellout?", f"/{name}?")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
