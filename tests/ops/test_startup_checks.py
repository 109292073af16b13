"""Start-up checks: a run that cannot start says why in one message, before it reads or writes anything."""

from __future__ import annotations

import psycopg
from click.testing import CliRunner

from sellout.api import run_pipeline
from sellout.command_line import main


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_schema not in ('pg_catalog', 'information_schema')"
            )
        ]


def test_a_missing_landing_folder_stops_the_run_before_anything_runs(isolated_project):
    summary = run_pipeline("ingestion", raise_on_error=False)
    assert summary.status == "failed" and summary.outputs == {}
    assert (
        "sources.grocer_a.directory: the landing folder" in summary.error
        and "does not exist" in summary.error
    )
    assert "sources.grocer_b.directory" in summary.error  # every source, at once
    assert _tables(isolated_project["url"]) == []  # no run record, no table


def test_a_run_without_ingestion_does_not_need_the_landing_folders(isolated_project):
    summary = run_pipeline("publish", raise_on_error=False)
    assert "landing folder" not in (summary.error or "")


def test_every_missing_environment_variable_is_named_at_once(monkeypatch, isolated_project):
    for name in (
        "SUPABASE_DB_URL",
        "SUPABASE_URL",
        "SUPABASE_KEY",
        "TABLEAU_SITE",
        "TABLEAU_TOKEN_NAME",
        "TABLEAU_TOKEN_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["run", "--env", "prod"])
    assert result.exit_code == 1
    for name in ("SUPABASE_DB_URL", "SUPABASE_URL", "SUPABASE_KEY", "TABLEAU_SITE", "TABLEAU_TOKEN_SECRET"):
        assert f"needs the environment variable {name}" in result.output, name
    assert "conf/prod/credentials.yml: db.url needs the environment variable SUPABASE_DB_URL" in result.output
    assert "Traceback" not in result.output
