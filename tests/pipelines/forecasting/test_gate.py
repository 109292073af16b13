"""The quality gate and the run history it reads back from PostgreSQL."""

import pandas as pd
import pytest
from kedro.io import DataCatalog

from sellout.config.loader import config_loader
from sellout.datasets import PostgresTableDataset
from sellout.datasets.optional import OptionalPostgresTableDataset
from sellout.pipelines.forecasting import gate
from sellout.pipelines.forecasting.gate import evaluate, model_run_row

COLUMNS = {
    "run_id": "text",
    "model_version": "text",
    "created_at": "timestamptz",
    "origin_week": "date",
    "model_wape": "double precision",
    "model_bias": "double precision",
    "best_baseline": "text",
    "best_baseline_wape": "double precision",
    "wape_by_method": "text",
    "gate_passed": "boolean",
    "gate_reason": "text",
    "published": "boolean",
}


def _metrics(model=0.30, naive=0.50, ma=0.45):
    rows = [("lightgbm", model), ("naive", naive), ("moving_average_4", ma)]
    return pd.DataFrame(
        [{"method": m, "horizon": 0, "category": "ALL", "wape": w, "bias": 0.01} for m, w in rows]
        + [{"method": "lightgbm", "horizon": 1, "category": "ALL", "wape": 9.9, "bias": 0.0}]
    )


def _history(*runs):
    return pd.DataFrame(
        [
            {"run_id": r, "model_wape": w, "gate_passed": p, "created_at": f"2024-01-0{i + 1}"}
            for i, (r, w, p) in enumerate(runs)
        ]
    )


def test_passes_when_better_than_baselines_and_last_published():
    status = evaluate(_metrics(), _history(("r1", 0.31, True)), "r2", "lightgbm", 0.0, 0.02)
    assert status["passed"] is True
    assert status["best_baseline"] == "moving_average_4" and status["best_baseline_wape"] == 0.45
    assert status["last_published_wape"] == 0.31 and status["margin"] == 0.0


def test_fails_when_worse_than_the_best_baseline():
    status = evaluate(_metrics(model=0.46), None, "r2", "lightgbm", 0.0, 0.02)
    assert status["passed"] is False and "moving_average_4" in status["reason"]
    assert evaluate(_metrics(model=0.46), None, "r2", "lightgbm", 0.05, 0.02)["passed"] is True


def test_fails_when_worse_than_the_last_published_model_ignoring_failed_runs_and_itself():
    history = _history(("r1", 0.25, True), ("r2", 0.20, False), ("r3", 0.10, True))
    status = evaluate(_metrics(model=0.30), history, "r3", "lightgbm", 0.0, 0.02)
    assert status["last_published_wape"] == 0.25  # r2 failed, r3 is this run
    assert status["passed"] is False and "last published" in status["reason"]


def test_run_history_round_trip_in_postgres(db_url):
    reader = OptionalPostgresTableDataset(
        table="forecast.model_runs", credentials={"con": db_url}, columns=COLUMNS
    )
    writer = PostgresTableDataset(
        table="forecast.model_runs",
        credentials={"con": db_url},
        columns=COLUMNS,
        save_args={"mode": "replace_partition", "partition_columns": ["run_id"]},
    )
    assert reader.load().empty  # before the first run: no table, no error
    first = evaluate(_metrics(), reader.load(), "r1", "lightgbm", 0.0, 0.02)
    row = model_run_row(
        first, _metrics(), "lgbm-x", "2024-01-01T00:00:00+00:00", pd.Timestamp("2023-12-27"), "lightgbm"
    )
    writer.save(row)
    writer.save(row.assign(published=True))  # a rerun replaces its row; this one's forecasts were committed
    history = reader.load()
    assert len(history) == 1 and bool(history["gate_passed"].iloc[0]) is True
    second = evaluate(_metrics(model=0.40), history, "r2", "lightgbm", 0.0, 0.02)
    assert second["last_published_wape"] == pytest.approx(0.30) and second["passed"] is False


def _catalog(run_id: str) -> DataCatalog:
    """The project's catalog of run ``run_id`` (its ``${runtime_params:run_id}`` resolved as in a run)."""
    conf = config_loader("local", runtime_params={"run_id": run_id})
    return DataCatalog.from_config(conf["catalog"], conf["credentials"])


def _forecasts(run_id: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": [run_id],
            "model_version": ["v"],
            "origin_week": [pd.Timestamp("2024-01-06")],
            "target_week": [pd.Timestamp("2024-01-13")],
            "horizon": [1],
            "store_code": ["S1"],
            "product_code": ["P1"],
            "forecast_units": [1.0],
            "forecast_p10": [0.5],
            "forecast_p90": [2.0],
            "created_at": ["2024-01-06T00:00:00+00:00"],
        }
    )


def test_the_gate_and_the_report_read_only_their_own_runs_rows(isolated_project):
    for run_id, wape in (("r1", 0.25), ("r2", 0.35)):
        metrics = _metrics(model=wape).assign(run_id=run_id, mase=0.5, n_cells=10, model_version="v")
        _catalog(run_id).save("backtest_metrics", metrics)
    this_run = _catalog("r2").load("this_run_backtest_metrics")
    assert set(this_run["run_id"]) == {"r2"} and len(this_run) == len(_metrics())
    assert len(_catalog("r2").load("backtest_metrics")) == 2 * len(_metrics())


def test_the_gate_reads_only_the_last_published_run_before_this_one(isolated_project):
    catalog = _catalog("r9")
    assert catalog.load("published_model_runs").empty  # before the first run: no table, no error
    runs = [
        ("r1", 0.25, True, "2024-01-01", True),
        ("r2", 0.30, True, "2024-01-02", True),
        ("r3", 0.10, False, "2024-01-03", True),
        ("r4", 0.05, True, "2024-01-04", False),  # killed after its gate, before its forecasts were committed
    ]
    for run_id, wape, passed, created_at, forecasts_written in runs:
        status = {**evaluate(_metrics(model=wape), None, run_id, "lightgbm", 1.0, 1.0), "passed": passed}
        row = model_run_row(
            status, _metrics(), "v", f"{created_at}T00:00:00+00:00", pd.Timestamp(created_at), "lightgbm"
        )
        _catalog(run_id).save("model_runs", row)
        if forecasts_written:  # the forecasts' own transaction publishes the run
            _catalog(run_id).save("forecasts", _forecasts(run_id))
    # r3's gate failed, r4's forecasts were never committed
    assert _catalog("r9").load("published_model_runs")["run_id"].tolist() == ["r2"]
    assert _catalog("r2").load("published_model_runs")["run_id"].tolist() == ["r1"]  # a rerun of r2


def test_a_run_whose_forecasts_were_never_committed_is_not_the_baseline():
    runs = pd.DataFrame(
        {
            "run_id": ["published", "killed"],
            "created_at": ["2026-01-05", "2026-01-12"],
            "model_wape": [0.30, 0.10],
            "gate_passed": [True, True],
            "published": [True, False],  # killed after its gate passed, before its forecasts were written
        }
    )
    assert gate.last_published(runs, "now")["run_id"] == "published"


def test_every_measure_must_beat_its_baselines_and_promoted_rows_are_not_the_overall():
    units = _metrics(model=0.30).assign(measure="units", segment="ALL", n_cells=100)
    value = _metrics(model=0.60).assign(measure="sales_value", segment="ALL", n_cells=10)
    promoted = _metrics(model=0.99).assign(measure="units", segment="promoted", n_cells=40)
    metrics = pd.concat([units, value, promoted], ignore_index=True)
    status = evaluate(metrics, None, "r1", "lightgbm", 0.0, 0.02)
    assert status["passed"] is False and "(sales_value)" in status["reason"]
    assert status["measure"] == "units" and status["model_wape"] == 0.30  # the main measure: the most cells
    passing = evaluate(pd.concat([units, promoted], ignore_index=True), None, "r1", "lightgbm", 0.0, 0.02)
    assert passing["passed"] is True and passing["model_wape"] == 0.30
    settings = {"a": {"known_inputs": "rule", "candidate": "x"}, "b": {"known_inputs": "plan"}}
    row = model_run_row(status, metrics, "v", "2024-01-01", pd.Timestamp("2024-01-01"), "lightgbm", settings)
    assert row["known_inputs"].iloc[0] == "a=rule, b=plan" and row["measure"].iloc[0] == "units"
    assert '"candidate": "x"' in row["model_settings"].iloc[0]
    assert gate.known_inputs_text({"a": {"known_inputs": "rule"}, "b": {"known_inputs": "rule"}}) == "rule"
