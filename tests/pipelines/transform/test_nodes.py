"""The transform nodes: unit tests with a stubbed dbt, and the real thing against an embedded PostgreSQL."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest
import yaml
from support.databases import temporary_database

from sellout.config.parameters import DbtParams
from sellout.datasets import raw_tables
from sellout.integrations import db
from sellout.integrations.dbt_runner import DbtNodeResult, DbtResult
from sellout.pipelines.transform import create_pipeline, nodes
from sellout.pipelines.transform.nodes import DbtRunFailedError, DbtTestFailedError, dbt_run, dbt_test

W1 = date(2024, 1, 7)
INGESTION = {"run_id": "r1", "files_loaded": 2, "rows_loaded": 3}


def context(mode: str = "incremental", dry_run: bool = False) -> dict:
    return {
        "run_id": "r1",
        "mode": mode,
        "dry_run": dry_run,
        "env": "test",
        "started_at": "2024-01-08T00:00:00",
    }


class FakeDbt:
    """Records the commands the nodes send to dbt and answers with a canned result."""

    def __init__(self, results: list[DbtNodeResult] | None = None, success: bool = True):
        self.calls: list[tuple[list[str], str, dict]] = []
        self.envs: list[dict] = []
        self.results = (
            results if results is not None else [DbtNodeResult("model.sellout.x", "success", 0.5, 3)]
        )
        self.success = success

    def __call__(self, command, db_url, project_dir=None, *, vars=None, target_path=None, env=None):
        self.calls.append((command, db_url, vars))
        self.envs.append(env or {})
        return DbtResult(command, self.success, self.results, 1.25)


@pytest.fixture
def fake_dbt(monkeypatch):
    fake = FakeDbt()
    monkeypatch.setattr(nodes, "run_dbt", fake)
    return fake


def test_pipeline_has_the_two_nodes_in_order():
    pipeline = create_pipeline()
    assert [node.name for node in pipeline.nodes] == ["dbt_run", "dbt_test"]
    run, test = pipeline.nodes
    assert run.inputs == ["ingestion_status", "run_context", "dbt_target", "params:dbt"]
    assert run.outputs == ["dbt_run_status"]
    assert test.inputs == ["dbt_run_status", "run_context", "dbt_target", "params:dbt"]
    assert test.outputs == ["dbt_test_status"]


def test_incremental_run_status(fake_dbt):
    status = dbt_run(
        INGESTION, context(), {"url": "postgresql://u:pw@h/d"}, {"full_refresh_on_full_mode": True}
    )
    command, url, dbt_vars = fake_dbt.calls[0]
    assert command == ["run", "--threads", "4"]
    assert url == "postgresql://u:pw@h/d"
    assert dbt_vars == {}  # the run's id is not a dbt var (a changed var makes dbt parse everything again)
    assert fake_dbt.envs[0] == {"SELLOUT_DBT_RUN_ID": "r1"}
    assert status["success"] is True
    assert status["run_id"] == "r1"
    assert status["models"] == 1
    assert status["failures"] == 0
    assert status["elapsed_s"] == 1.25
    assert status["full_refresh"] is False
    assert status["results"] == [
        {
            "unique_id": "model.sellout.x",
            "status": "success",
            "execution_time": 0.5,
            "rows_affected": 3,
            "failures": None,
            "message": None,
        }
    ]
    json.dumps(status)  # the status is stored as JSON


def test_full_mode_refreshes_and_selection_is_passed(fake_dbt):
    params = {
        "select": ["marts", "+fct_sellout_weekly"],
        "exclude": "dim_store",
        "full_refresh_on_full_mode": True,
        "threads": 2,
    }
    status = dbt_run(INGESTION, context("full"), {"url": "postgresql://h/d"}, params)
    assert fake_dbt.calls[0][0] == [
        "run",
        "--full-refresh",
        "--threads",
        "2",
        "--select",
        "marts",
        "+fct_sellout_weekly",
        "--exclude",
        "dim_store",
    ]
    assert status["full_refresh"] is True
    dbt_test(status, context("full"), {"url": "postgresql://h/d"}, params)
    assert fake_dbt.envs[1] == {}  # a full run tests every row
    assert fake_dbt.calls[1][0] == [
        "test",
        "--threads",
        "2",
        "--select",
        "marts",
        "+fct_sellout_weekly",
        "--exclude",
        "dim_store",
    ]


def test_full_refresh_can_be_switched_off(fake_dbt):
    dbt_run(INGESTION, context("full"), {"url": "postgresql://h/d"}, {"full_refresh_on_full_mode": False})
    assert fake_dbt.calls[0][0] == ["run", "--threads", "4"]


def test_dry_run_compiles_and_skips_tests(fake_dbt):
    status = dbt_run(INGESTION, context("full", dry_run=True), {"url": "postgresql://h/d"}, {})
    assert fake_dbt.calls[0][0] == ["compile", "--threads", "4"]
    assert status["dry_run"] is True
    test_status = dbt_test(status, context("full", dry_run=True), {"url": "postgresql://h/d"}, {})
    assert test_status["skipped"] is True
    assert test_status["success"] is True
    assert len(fake_dbt.calls) == 1


def test_failing_run_raises_naming_the_model(monkeypatch):
    failed = [
        DbtNodeResult("model.sellout.fct_sellout_weekly", "error", 0.1, message="column x does not exist")
    ]
    monkeypatch.setattr(nodes, "run_dbt", FakeDbt(failed, success=False))
    with pytest.raises(DbtRunFailedError, match=r"model\.sellout\.fct_sellout_weekly \[error\]: column x"):
        dbt_run(INGESTION, context(), {"url": "postgresql://h/d"}, {})


def test_failing_tests_raise_naming_them(monkeypatch):
    results = [
        DbtNodeResult("test.sellout.unique_dim_store_store_code.1", "pass", 0.1, failures=0),
        DbtNodeResult("test.sellout.not_negative_fct_sellout_weekly_units.2", "fail", 0.1, failures=4),
    ]
    monkeypatch.setattr(nodes, "run_dbt", FakeDbt(results, success=False))
    with pytest.raises(DbtTestFailedError, match=r"1 of 2 test\(s\) failed") as excinfo:
        dbt_test({"success": True}, context(), {"url": "postgresql://h/d"}, {})
    assert "not_negative_fct_sellout_weekly_units.2 [fail] (4 failing rows)" in str(excinfo.value)
    assert "unique_dim_store" not in str(excinfo.value)


def test_tests_refuse_to_run_after_a_failed_run(fake_dbt):
    with pytest.raises(DbtRunFailedError):
        dbt_test({"success": False}, context(), {"url": "postgresql://h/d"}, {})
    assert fake_dbt.calls == []


# --- against a real embedded PostgreSQL -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url(pg_server):
    """A database of this module's own on the session's embedded server (tests/conftest.py)."""
    with temporary_database(pg_server["url"], prefix="dbt") as url:
        with db.transaction(url) as conn:
            raw_tables.ensure_schema(conn)
            conn.execute(
                "insert into raw.stores (source, store_code, store_name) values ('acme', 'S1', 'One'), "
                "('acme', 'S2', 'Two')"
            )
            conn.execute(
                "insert into raw.products (source, product_code, description) values ('acme', 'P1', 'A')"
            )
            for file_id in (1, 2):
                _add_file(conn, file_id)
            _add_line(conn, 1, "S1", 10)
            _add_line(conn, 1, "S2", 4)
            _add_line(conn, 2, "S1", 11)  # re-delivery of the week: replaces all of file 1's lines
        yield url


@pytest.fixture(scope="module")
def dbt_paths():
    """Keep dbt's target and logs out of the repository (other runs may use dbt/target concurrently)."""
    root = Path(tempfile.mkdtemp(prefix="dbt", dir="/tmp"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_TARGET_PATH", str(root / "target"))
        patch.setenv("DBT_LOG_PATH", str(root / "logs"))
        yield root
    shutil.rmtree(root, ignore_errors=True)


def _add_file(conn, file_id: int) -> None:
    conn.execute(
        "insert into ops.ingested_files "
        "(file_id, source, kind, file_name, sha256, size_bytes, status, run_id) "
        "values (%s, 'acme', 'sellout', %s, %s, 1, 'loaded', 'r1')",
        (file_id, f"f{file_id}.csv", f"sha{file_id}"),
    )


def _add_line(conn, file_id: int, store: str, units: float) -> None:
    conn.execute(
        "insert into raw.sellout_lines "
        "(file_id, source, line_no, week_end_date, store_code, product_code, units) "
        "values (%s, 'acme', 1, %s, %s, 'P1', %s)",
        (file_id, W1, store, units),
    )


@pytest.mark.integration
def test_nodes_run_and_test_for_real(pg_url, dbt_paths):
    run_status = dbt_run(INGESTION, context("full"), {"url": pg_url}, {"full_refresh_on_full_mode": True})
    assert run_status["success"] and run_status["full_refresh"]
    assert run_status["models"] == 7
    assert {r["status"] for r in run_status["results"]} == {"success"}
    test_status = dbt_test(run_status, context("full"), {"url": pg_url}, {})
    assert test_status["success"] and test_status["failures"] == 0
    assert test_status["tests"] > 20
    json.dumps(run_status), json.dumps(test_status)
    with db.connect(pg_url) as conn:
        rows = conn.execute(
            "select store_code, units from marts.fct_sellout_weekly order by store_code"
        ).fetchall()
    assert rows == [("S1", 11.0)]  # S2 is not in the corrected week any more
    assert (dbt_paths / "target" / "run_results.json").is_file()


@pytest.mark.integration
def test_negative_units_stop_the_pipeline(pg_url, dbt_paths):
    with db.transaction(pg_url) as conn:
        _add_file(conn, 3)
        _add_line(conn, 3, "S2", -2)
    params = {"select": ["fct_sellout_weekly"]}
    try:
        run_status = dbt_run(INGESTION, context(), {"url": pg_url}, params)
        assert run_status["models"] == 1
        with pytest.raises(DbtTestFailedError, match="not_negative_fct_sellout_weekly_units"):
            dbt_test(run_status, context(), {"url": pg_url}, params)
    finally:
        with db.transaction(pg_url) as conn:
            conn.execute("delete from raw.sellout_lines where file_id = 3")
            conn.execute("delete from ops.ingested_files where file_id = 3")


def test_dbt_runs_as_many_threads_by_hand_as_in_the_pipeline():
    """dbt's own profile (what `sellout dbt` and a hand-run dbt use), the parameters' default and
    conf/base say one thread count."""
    root = Path(__file__).resolve().parents[3]
    profile = yaml.safe_load((root / "dbt" / "profiles.yml").read_text(encoding="utf-8"))
    (target,) = (t for p in profile.values() if isinstance(p, dict) for t in p.get("outputs", {}).values())
    conf = yaml.safe_load((root / "conf" / "base" / "parameters_transform.yml").read_text(encoding="utf-8"))
    assert target["threads"] == DbtParams().threads == conf["dbt"]["threads"]
