"""sellout.integrations.dbt_runner and the dbt project, against a real embedded PostgreSQL server."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import pytest
from support.databases import temporary_database

from sellout.datasets import raw_tables
from sellout.integrations import db
from sellout.integrations.dbt_runner import (
    PASSWORD_ENV,
    DbtNodeResult,
    DbtResult,
    dbt_env,
    dbt_project_dir,
    run_dbt,
)

PASSWORD = "Xq7-not-a-real-pw"
W1, W2 = date(2024, 1, 7), date(2024, 1, 14)


@pytest.fixture(scope="module")
def pg_url(pg_server):
    """A database of this module's own on the session's embedded server (tests/conftest.py), seeded once."""
    with temporary_database(pg_server["url"], prefix="dbt") as url:
        with db.transaction(url) as conn:
            raw_tables.ensure_schema(conn)
            seed(conn)
        yield url


@pytest.fixture(scope="module")
def target_dir():
    path = Path(tempfile.mkdtemp(prefix="dbt", dir="/tmp"))
    yield path / "target"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def built(pg_url, target_dir):
    """The project after one ``dbt run`` (shared by the read-only tests)."""
    result = run_dbt(["run"], pg_url, dbt_project_dir(), target_path=target_dir)
    assert result.success, result.describe_failures()
    return result


def add_file(conn, file_id: int, source: str, status: str = "loaded") -> None:
    conn.execute(
        "insert into ops.ingested_files "
        "(file_id, source, kind, file_name, sha256, size_bytes, status, run_id) "
        "values (%s, %s, 'sellout', %s, %s, 100, %s, 'test')",
        (file_id, source, f"{source}_{file_id}.csv", f"sha{file_id}", status),
    )


def add_lines(conn, file_id: int, source: str, rows: list[tuple]) -> None:
    for line_no, (week, store, product, units, sales, price, base, feature) in enumerate(rows, start=1):
        conn.execute(
            "insert into raw.sellout_lines (file_id, source, line_no, week_end_date, store_code, "
            "product_code, units, sales_value, price, base_price, feature) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (file_id, source, line_no, week, store, product, units, sales, price, base, feature),
        )


def seed(conn) -> None:
    conn.execute(
        "insert into raw.stores (source, store_code, store_name, city, state, segment, sales_area) values "
        "('acme', 'S1', 'Store One', 'Dayton', 'OH', 'UPSCALE', 25000),"
        "('acme', 'S2', 'Store Two', null, 'TX', 'VALUE', 30000),"
        "('zeta', 'S1', null, 'Dayton', 'OH', 'MAINSTREAM', null),"
        "('zeta', 'S2', 'Other name', 'Houston', 'TX', null, null)"
    )
    conn.execute(
        "insert into raw.products (source, product_code, description, manufacturer, category, sub_category, "
        "product_size) values "
        "('acme', 'P1', 'Oat Cereal', 'GENERAL MILLS', 'COLD CEREAL', 'ALL FAMILY', '12.25 OZ'),"
        "('acme', 'P2', 'Frozen Pizza', null, 'FROZEN PIZZA', 'PIZZA', '32.7 OZ'),"
        "('zeta', 'P2', null, 'TONYS', null, null, null)"
    )
    add_file(conn, 1, "acme")
    add_lines(
        conn,
        1,
        "acme",
        [
            (W1, "S1", "P1", 10, 30.0, 3.0, 3.5, True),
            (W1, "S1", "P2", 5, 25.0, 5.0, 5.0, False),
            (W1, "S2", "P1", 7, 21.0, 3.0, 3.0, False),
            (W2, "S1", "P1", 8, 24.0, 3.0, 3.5, False),
        ],
    )
    # A corrected re-delivery of W1 replaces the whole week: S1/P1 changes, S1/P2 is no longer there.
    add_file(conn, 2, "acme")
    add_lines(
        conn,
        2,
        "acme",
        [(W1, "S1", "P1", 12, 36.0, 3.0, 3.5, True), (W1, "S2", "P1", 7, 21.0, 3.0, 3.0, False)],
    )
    # A quarantined file: its lines never reach staging, even though they sit in raw.
    add_file(conn, 3, "acme", status="quarantined")
    add_lines(
        conn,
        3,
        "acme",
        [(W1, "S2", "P2", 99, 1.0, 1.0, 1.0, False), (W1, "S1", "P1", 1, 1.0, 1.0, 1.0, False)],
    )


def test_project_dir_is_found_regardless_of_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("SELLOUT_DBT_PROJECT_DIR", raising=False)
    monkeypatch.delenv("SELLOUT_PROJECT_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    project = dbt_project_dir()
    assert (project / "dbt_project.yml").is_file()
    assert project.name == "dbt"

    monkeypatch.setenv("SELLOUT_DBT_PROJECT_DIR", str(project))
    assert dbt_project_dir() == project
    monkeypatch.setenv("SELLOUT_DBT_PROJECT_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SELLOUT_DBT_PROJECT_DIR"):
        dbt_project_dir()


def test_dbt_env_takes_the_url_apart():
    env = dbt_env(f"postgresql://alice:{PASSWORD}@db.example.com:6543/postgres?sslmode=require")
    assert env == {
        "SELLOUT_DBT_HOST": "db.example.com",
        "SELLOUT_DBT_PORT": "6543",
        "SELLOUT_DBT_USER": "alice",
        PASSWORD_ENV: PASSWORD,
        "SELLOUT_DBT_DBNAME": "postgres",
        "SELLOUT_DBT_SSLMODE": "require",
    }
    socket = dbt_env("postgresql://postgres:@/sellout?host=/tmp/pgabc/d")
    assert socket["SELLOUT_DBT_HOST"] == "/tmp/pgabc/d"
    assert socket[PASSWORD_ENV] == ""
    assert socket["SELLOUT_DBT_SSLMODE"] == "prefer"


def test_describe_failures_names_failed_nodes():
    result = DbtResult(
        ["test"],
        False,
        [
            DbtNodeResult("test.sellout.a", "pass", 0.1),
            DbtNodeResult("test.sellout.not_negative_x", "fail", 0.1, failures=2, message="Got 2 results"),
        ],
    )
    assert [node.unique_id for node in result.failed] == ["test.sellout.not_negative_x"]
    assert "test.sellout.not_negative_x [fail] (2 failing rows)" in result.describe_failures()
    assert result.to_dict()["results"][1]["failures"] == 2


@pytest.mark.integration
def test_run_builds_models_in_exact_schemas(pg_url, built):
    by_name = {node.unique_id.rsplit(".", 1)[-1]: node for node in built.results}
    assert set(by_name) == {
        "stg_sellout_lines",
        "stg_stores",
        "stg_products",
        "fct_sellout_weekly",
        "fct_fed_names_weekly",
        "dim_store",
        "dim_product",
    }
    assert all(node.status == "success" for node in built.results)
    assert by_name["fct_sellout_weekly"].rows_affected == 3
    assert built.elapsed_s > 0
    with db.connect(pg_url) as conn:
        relations = set(
            conn.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_schema not in ('pg_catalog', 'information_schema', 'raw', 'ops', 'forecast')"
            ).fetchall()
        )
    assert {r[0] for r in relations} == {
        "staging.stg_sellout_lines",
        "staging.stg_stores",
        "staging.stg_products",
        "marts.fct_sellout_weekly",
        "marts.fct_fed_names_weekly",
        "marts.dim_store",
        "marts.dim_product",
    }


@pytest.mark.integration
def test_fact_keeps_latest_delivery_of_loaded_files(pg_url, built):
    with db.connect(pg_url) as conn:
        rows = conn.execute(
            "select week_end_date, store_code, product_code, source, units, sales_value, price, base_price, "
            "feature, display, tpr_only from marts.fct_sellout_weekly order by 1, 2, 3"
        ).fetchall()
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        (W1, "S1", "P1", 12.0),  # file 2 replaced file 1's week; the quarantined file's 1 unit is ignored
        (W1, "S2", "P1", 7.0),  # S1/P2 of W1 is gone: the corrected week does not have it
        (W2, "S1", "P1", 8.0),
    ]
    corrected = rows[0]
    assert corrected[3] == "acme"
    assert corrected[5:8] == (36.0, 3.0, 3.5)
    assert corrected[8:] == (True, False, False)
    assert not any(r[1] == "S2" and r[2] == "P2" for r in rows)


@pytest.mark.integration
def test_dimensions_take_first_non_null_across_sources(pg_url, built):
    with db.connect(pg_url) as conn:
        stores = conn.execute(
            "select store_code, store_name, city, state, segment, sales_area from marts.dim_store order by 1"
        ).fetchall()
        products = conn.execute(
            "select product_code, description, manufacturer, category from marts.dim_product order by 1"
        ).fetchall()
    assert stores == [
        ("S1", "Store One", "Dayton", "OH", "UPSCALE", 25000.0),
        ("S2", "Store Two", "Houston", "TX", "VALUE", 30000.0),
    ]
    assert products == [
        ("P1", "Oat Cereal", "GENERAL MILLS", "COLD CEREAL"),
        ("P2", "Frozen Pizza", "TONYS", "FROZEN PIZZA"),
    ]


@pytest.mark.integration
def test_dbt_test_passes_and_password_never_shows(pg_url, built, target_dir, capfd, caplog):
    # The embedded server trusts local connections, so a password in the URL is accepted and ignored:
    # dbt receives it (in the environment) and must not print it anywhere.
    url = pg_url.replace("postgres:@", f"postgres:{PASSWORD}@")
    caplog.set_level(logging.INFO, logger="sellout.dbt")
    result = run_dbt(["test"], url, dbt_project_dir(), target_path=target_dir)
    assert result.success, result.describe_failures()
    assert len(result.results) > 20
    assert all(node.status == "pass" for node in result.results)
    for kind in ("not_negative_", "unique_combination_of_columns_", "relationships_fct_sellout_weekly_"):
        assert any(node.unique_id.startswith(f"test.sellout.{kind}") for node in result.results), kind
    out, err = capfd.readouterr()
    assert "PASS=" in caplog.text and "PASS=" not in out  # dbt's console lines go to the project's log
    log_file = (target_dir.parent / "logs" / "dbt.log").read_text()
    for text in (out, err, caplog.text, log_file, repr(result)):
        assert PASSWORD not in text


@pytest.mark.integration
def test_connection_failure_is_reported_without_password(tmp_path, target_dir, capfd):
    url = f"postgresql://postgres:{PASSWORD}@/sellout?host={tmp_path}/nowhere"
    result = run_dbt(["run", "--select", "stg_stores"], url, dbt_project_dir(), target_path=target_dir)
    assert not result.success
    assert result.describe_failures()
    out, err = capfd.readouterr()
    for text in (out, err, repr(result), result.describe_failures()):
        assert PASSWORD not in text


@pytest.mark.integration
def test_negative_units_fail_dbt_test(pg_url, built, target_dir):
    with db.transaction(pg_url) as conn:
        add_file(conn, 4, "acme")
        add_lines(conn, 4, "acme", [(W2, "S2", "P2", -3, -9.0, 3.0, 3.0, False)])
    try:
        assert run_dbt(["run"], pg_url, dbt_project_dir(), target_path=target_dir).success
        result = run_dbt(["test"], pg_url, dbt_project_dir(), target_path=target_dir)
        assert not result.success
        failed = {node.unique_id.split(".")[2] for node in result.failed}
        assert "not_negative_fct_sellout_weekly_units" in failed
        assert all(node.failures == 1 for node in result.failed)
        assert "not_negative_fct_sellout_weekly_units" in result.describe_failures()
    finally:
        with db.transaction(pg_url) as conn:
            conn.execute("delete from raw.sellout_lines where file_id = 4")
            conn.execute("delete from ops.ingested_files where file_id = 4")
        assert run_dbt(["run"], pg_url, dbt_project_dir(), target_path=target_dir).success


def test_dbt_starts_without_building_the_iri_grammar():
    code = (
        "import sys; from sellout.integrations.dbt_runner import _skip_iri_grammar; _skip_iri_grammar(); "
        "import dbt.cli.main, jsonschema; "
        "print(sys.modules.get('rfc3987_syntax', 'absent'), 'iri' in jsonschema.FormatChecker.checkers)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "None False"


@pytest.mark.integration
def test_the_run_ids_are_read_when_dbt_executes_not_when_it_parses(built, target_dir):
    """dbt parses a file again when an env var it read while parsing changes: the run's ids change every run, so
    the models and macros read them only when executing (partial parsing then keeps every file)."""
    import msgpack  # noqa: PLC0415 - dbt's own dependency, for its partial-parse file

    state = msgpack.unpackb((target_dir / "partial_parse.msgpack").read_bytes(), strict_map_key=False)
    read_while_parsing = {
        name: path for path, file in state["files"].items() for name in (file.get("env_vars") or {})
    }
    assert state["files"] and not {"SELLOUT_DBT_RUN_ID", "SELLOUT_DBT_TESTS_RUN_ID"} & set(read_while_parsing)
