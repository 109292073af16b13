"""The ``sellout`` command's own switches (the runs themselves are tested through ``sellout.api``)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sellout import api
from sellout.command_line import main


@pytest.mark.parametrize(
    ("value", "params"),
    [
        ("2026-W05:2026-W08", {"backfill_from": "2026-W05", "backfill_to": "2026-W08"}),
        ("2026-W05", {"backfill_from": "2026-W05", "backfill_to": "2026-W05"}),
    ],
)
def test_run_backfill_passes_the_weeks_as_runtime_params(monkeypatch, value, params):
    received = {}

    def fake_run_pipeline(pipeline, mode, **kwargs):
        received.update(kwargs["params"])
        return api.RunSummary(
            run_id="r", pipeline=pipeline, mode=mode, env="local", status="succeeded", duration_s=0.1
        )

    monkeypatch.setattr(api, "run_pipeline", fake_run_pipeline)
    result = CliRunner().invoke(main, ["run", "--pipeline", "ingestion", "--backfill", value])
    assert result.exit_code == 0, result.output
    assert received == params


@pytest.mark.parametrize("value", ["2026-W09:2026-W02", "last week", "2026-05"])
def test_run_refuses_a_bad_backfill_before_running(monkeypatch, value):
    monkeypatch.setattr(api, "run_pipeline", lambda *a, **k: pytest.fail("must not run"))
    result = CliRunner().invoke(main, ["run", "--backfill", value])
    assert result.exit_code == 2
    assert "--backfill" in result.output


def test_a_subcommand_is_imported_only_when_it_runs():
    import subprocess  # noqa: PLC0415 - this test only
    import sys  # noqa: PLC0415 - this test only

    code = "import sys, sellout.command_line; print(sorted(m for m in sys.modules if m.startswith('sellout.commands.')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert sorted(main.list_commands(None)) == ["db", "dbt", "run", "sample", "sources", "status"]
