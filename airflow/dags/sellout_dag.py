"""The sellout DAG, generated from the Kedro graph by `make dag`
(`kedro airflow create --jinja-file airflow/dag_template.j2 --group-by memory`). Do not edit by hand:
change the template or conf/base/airflow.yml and regenerate; a test fails when this file is stale.

Each task runs a group of Kedro nodes (nodes linked only through in-memory data stay together) in its own
KedroSession, with Airflow's run id as the run id so that every task of one DAG run writes the same one.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task

# The project root: SELLOUT_PROJECT_ROOT in the image, else the checkout this file was generated into.
PROJECT_PATH = Path(os.environ.get("SELLOUT_PROJECT_ROOT") or Path(__file__).resolve().parents[2])
KEDRO_ENV = os.environ.get("SELLOUT_KEDRO_ENV") or "local"
PIPELINE_NAME = "__default__"


def _run_kedro_nodes(node_names: list[str]) -> None:
    from kedro.framework.project import configure_project
    from kedro.framework.session import KedroSession

    context = get_current_context()
    params = context["params"]
    runtime_params = {
        "run_id": context["run_id"],
        "mode": params["mode"],
        "dry_run": params["dry_run"],
    }
    configure_project("sellout")
    with KedroSession.create(
        project_path=PROJECT_PATH, env=KEDRO_ENV, runtime_params=runtime_params
    ) as session:
        session.run(pipeline_names=[PIPELINE_NAME], node_names=node_names)


@dag(
    dag_id="sellout",
    description="Retailer sell-out files -> Supabase -> dbt -> LightGBM forecast -> Tableau",
    start_date=datetime(2026, 1, 5),
    schedule="0 7 * * 1",
    catchup=False,
    max_active_runs=1,
    tags=["sellout", "kedro"],
    params={
        "mode": Param("incremental", enum=["incremental", "full"], description="Load only new files, or all"),
        "dry_run": Param(False, type="boolean", description="Plan and check only; write nothing"),
    },
    default_args=dict(
        owner="sellout",
        retries=0,
        retry_delay=timedelta(minutes=2),
        execution_timeout=timedelta(minutes=60),
    ),
)
def sellout():

    @task(task_id="plan-ingestion-load-new-files")
    def plan_ingestion_load_new_files():
        _run_kedro_nodes(["plan_ingestion", "load_new_files"])

    @task(task_id="summarize-ingestion")
    def summarize_ingestion():
        _run_kedro_nodes(["summarize_ingestion"])

    @task(task_id="dbt-run")
    def dbt_run():
        _run_kedro_nodes(["dbt_run"])

    @task(task_id="dbt-test")
    def dbt_test():
        _run_kedro_nodes(["dbt_test"])

    @task(task_id="build-model-panel")
    def build_model_panel():
        _run_kedro_nodes(["build_model_panel"])

    @task(task_id="backtest-forecast")
    def backtest_forecast():
        _run_kedro_nodes(["backtest_forecast"])

    @task(task_id="build-model-features")
    def build_model_features():
        _run_kedro_nodes(["build_model_features"])

    @task(task_id="train-forecast-model")
    def train_forecast_model():
        _run_kedro_nodes(["train_forecast_model"])

    @task(task_id="forecast-next-weeks-write-forecasts")
    def forecast_next_weeks_write_forecasts():
        _run_kedro_nodes(["forecast_next_weeks", "write_forecasts"])

    @task(task_id="refresh-tableau")
    def refresh_tableau():
        _run_kedro_nodes(["refresh_tableau"])

    @task(task_id="notify-run-end")
    def notify_run_end():
        _run_kedro_nodes(["notify_run_end"])

    tasks = {
        "plan-ingestion-load-new-files": plan_ingestion_load_new_files(),
        "summarize-ingestion": summarize_ingestion(),
        "dbt-run": dbt_run(),
        "dbt-test": dbt_test(),
        "build-model-panel": build_model_panel(),
        "backtest-forecast": backtest_forecast(),
        "build-model-features": build_model_features(),
        "train-forecast-model": train_forecast_model(),
        "forecast-next-weeks-write-forecasts": forecast_next_weeks_write_forecasts(),
        "refresh-tableau": refresh_tableau(),
        "notify-run-end": notify_run_end(),
    }
    tasks["plan-ingestion-load-new-files"] >> tasks["summarize-ingestion"]
    tasks["summarize-ingestion"] >> tasks["dbt-run"]
    tasks["dbt-run"] >> tasks["dbt-test"]
    tasks["dbt-test"] >> tasks["build-model-panel"]
    tasks["build-model-panel"] >> tasks["backtest-forecast"]
    tasks["build-model-panel"] >> tasks["build-model-features"]
    tasks["build-model-features"] >> tasks["train-forecast-model"]
    tasks["build-model-panel"] >> tasks["forecast-next-weeks-write-forecasts"]
    tasks["train-forecast-model"] >> tasks["forecast-next-weeks-write-forecasts"]
    tasks["forecast-next-weeks-write-forecasts"] >> tasks["refresh-tableau"]
    tasks["refresh-tableau"] >> tasks["notify-run-end"]


sellout()