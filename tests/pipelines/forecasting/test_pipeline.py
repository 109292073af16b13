"""The features and forecasting stages through Kedro and the project's catalog, on a real database: a rerun with
nothing new reads the backtest and the model back, and the gate reads this run's metrics only."""

import json
from pathlib import Path

import pytest
from support.forecast_panels import promo_panel

from sellout.api import run_pipeline
from sellout.pipelines.forecasting import backtest, training

PROJECT_ROOT = Path(__file__).resolve().parents[3]
MEMO_FOLDERS = ("backtest_forecasts", "forecast_model", "last_full_fit")


def _stored(data: Path) -> dict[str, list[str]]:
    return {
        name: sorted(p.name for p in (data / "06_models" / "memo" / name).glob("*.pkl"))
        for name in MEMO_FOLDERS
    }


@pytest.mark.integration
def test_a_rerun_with_nothing_new_reuses_the_backtest_and_the_model(isolated_project, monkeypatch):
    data = isolated_project["data"]
    (data / "04_feature").mkdir(parents=True)
    promo_panel(70, stores=("S1", "S2", "S3")).to_parquet(data / "04_feature" / "model_panel.parquet")
    status = {"sources": {"default": {"measure": "units", "series": 6, "outage_weeks": 0}}}
    (data / "04_feature" / "model_panel_status.json").write_text(json.dumps(status))

    # The panel's promotions are random: only a plan tells them, and this source always delivers one.
    params = {"forecasting": {"known_inputs": "actual_is_plan"}}

    def stages(run_id: str, extra: dict | None = None):
        for stage in ("features", "forecasting"):
            summary = run_pipeline(
                stage,
                mode="incremental",
                run_id=run_id,
                params={**params, **(extra or {})},
                project_path=PROJECT_ROOT,
            )
            assert summary.status == "succeeded", summary.error
        return summary

    first = stages("run-1")
    stored = _stored(data)
    assert all(len(entries) == 1 for entries in stored.values()), stored
    assert first.outputs["forecast_write_status"]["rows"] == 6 * 8  # 3 stores x 2 products, horizon 8
    gate = json.loads((data / "07_model_output" / "quality_gate_status.json").read_text())
    assert gate["run_id"] == "run-1" and gate["passed"] is True

    def no_fitting(*args, **kwargs):
        raise AssertionError("fitted again although nothing changed")

    monkeypatch.setattr(backtest, "recursive_forecast", no_fitting)  # every origin is kept
    monkeypatch.setattr(training.TrainingSet, "fit", no_fitting)
    # a setting that no model input depends on: the run is not a no-op, its nodes run and reuse the stored results
    second = stages("run-2", extra={"run_control": {"lock_poll_s": 1.0}})
    assert _stored(data) == stored
    assert (
        second.outputs["forecast_write_status"]["model_version"]
        == first.outputs["forecast_write_status"]["model_version"]
    )
