"""The sellout DAG, generated from the Kedro graph by `make dag`
(`kedro airflow create --jinja-file airflow/dag_template.j2 --group-by memory`). Do not edit by hand:
change the template or conf/base/airflow.yml and regenerate; a test fails when this file is stale.

wait-for-week-files -> one task per group of Kedro nodes (nodes linked only through in-memory data stay together),
in the order the data needs, with dbt-source-freshness (`dbt source freshness`, dbt/models/staging/__sources.yml)
right before the group that runs dbt. Each task runs its nodes in its own KedroSession with Airflow's run id, so
every task of one DAG run writes the same run id. What runs at run time lives in sellout.ops.airflow_support.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import (
    AsyncCallback,
    CronTriggerTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    dag,
    task,
)

from sellout.ops import airflow_support

TIMEZONE = pendulum.timezone("Europe/Berlin")
KEDRO_ENV = airflow_support.kedro_env("local")
PIPELINE_NAME = "__default__"


@dag(
    dag_id="sellout",
    description="Retailer sell-out files -> Supabase -> dbt -> LightGBM forecast -> Tableau",
    schedule=CronTriggerTimetable("0 7 * * 1", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 5, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    tags=["sellout", "kedro"],
    params={
        "mode": Param("incremental", enum=["incremental", "full"], description="Load only new files, or all"),
        "dry_run": Param(False, type="boolean", description="Resolve, validate, check connections; write nothing"),
        "backfill_from": Param(
            None, type=["null", "string"], pattern=r"^\d{4}-W\d{2}$", description="First ISO week, e.g. 2026-W05"
        ),
        "backfill_to": Param(
            None, type=["null", "string"], pattern=r"^\d{4}-W\d{2}$", description="Last ISO week, e.g. 2026-W08"
        ),
        "wait_for_files": Param(True, type="boolean", description="Wait for the week's files before loading"),
    },
    default_args=dict(owner="sellout", retries=0),
    on_success_callback=airflow_support.on_dag_success,
    on_failure_callback=airflow_support.on_dag_failure,
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=6),
        callback=AsyncCallback(airflow_support.forecast_late),
        name="forecast-published",
    ),
)
def sellout():
    wait_for_week_files = airflow_support.WeekFilesSensor(
        task_id="wait-for-week-files",
        kedro_env=KEDRO_ENV,
        require="all",
        poke_interval=timedelta(minutes=10),
        timeout=timedelta(hours=5),
        deferrable=True,
        retries=0,
        retry_delay=timedelta(minutes=5),
        execution_timeout=timedelta(minutes=330),
    )

    # The sources' freshness before the models: a stale sell-out source stops a plain weekly run (data_late).
    @task(
        task_id="dbt-source-freshness",
        retries=0,
        retry_delay=timedelta(minutes=2),
        execution_timeout=timedelta(minutes=30),
    )
    def dbt_source_freshness():
        return airflow_support.check_source_freshness(env=KEDRO_ENV)

    @task(
        task_id="plan-ingestion-parse-new-files",
        retries=2,
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=20),
        execution_timeout=timedelta(minutes=60),
    )
    def plan_ingestion_parse_new_files():
        airflow_support.run_kedro_nodes(
            ["plan_ingestion", "parse_new_files"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="summarize-ingestion",
        retries=2,
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=20),
        execution_timeout=timedelta(minutes=60),
    )
    def summarize_ingestion():
        airflow_support.run_kedro_nodes(
            ["summarize_ingestion"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="dbt-run",
        retries=2,
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=20),
        execution_timeout=timedelta(minutes=45),
    )
    def dbt_run():
        airflow_support.run_kedro_nodes(
            ["dbt_run"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="dbt-test",
        retries=0,
        retry_delay=timedelta(minutes=2),
        execution_timeout=timedelta(minutes=30),
    )
    def dbt_test():
        airflow_support.run_kedro_nodes(
            ["dbt_test"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="build-model-panel",
        retries=1,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=90),
    )
    def build_model_panel():
        airflow_support.run_kedro_nodes(
            ["build_model_panel"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="build-model-features",
        retries=1,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=90),
    )
    def build_model_features():
        airflow_support.run_kedro_nodes(
            ["build_model_features"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="summarize-model-panel",
        retries=1,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=90),
    )
    def summarize_model_panel():
        airflow_support.run_kedro_nodes(
            ["summarize_model_panel"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="choose-model-settings",
        retries=1,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=90),
    )
    def choose_model_settings():
        airflow_support.run_kedro_nodes(
            ["choose_model_settings"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="train-forecast-model",
        retries=1,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=90),
    )
    def train_forecast_model():
        airflow_support.run_kedro_nodes(
            ["train_forecast_model"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="backtest-forecast",
        retries=1,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=90),
    )
    def backtest_forecast():
        airflow_support.run_kedro_nodes(
            ["backtest_forecast"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="forecast-next-weeks-build-forecast-report-write-forecasts",
        retries=1,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=90),
    )
    def forecast_next_weeks_build_forecast_report_write_forecasts():
        airflow_support.run_kedro_nodes(
            ["forecast_next_weeks", "build_forecast_report", "write_forecasts"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="quality-gate",
        retries=1,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=90),
    )
    def quality_gate():
        airflow_support.run_kedro_nodes(
            ["quality_gate"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="refresh-tableau",
        retries=0,
        retry_delay=timedelta(minutes=5),
        execution_timeout=timedelta(minutes=45),
    )
    def refresh_tableau():
        airflow_support.run_kedro_nodes(
            ["refresh_tableau"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="alert-on-refresh",
        retries=2,
        retry_delay=timedelta(minutes=1),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=10),
        execution_timeout=timedelta(minutes=5),
    )
    def alert_on_refresh():
        airflow_support.run_kedro_nodes(
            ["alert_on_refresh"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    @task(
        task_id="notify-run-end",
        retries=2,
        retry_delay=timedelta(minutes=1),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=10),
        execution_timeout=timedelta(minutes=5),
    )
    def notify_run_end():
        airflow_support.run_kedro_nodes(
            ["notify_run_end"],
            pipeline=PIPELINE_NAME,
            env=KEDRO_ENV,
        )

    tasks = {
        "plan-ingestion-parse-new-files": plan_ingestion_parse_new_files(),
        "summarize-ingestion": summarize_ingestion(),
        "dbt-run": dbt_run(),
        "dbt-test": dbt_test(),
        "build-model-panel": build_model_panel(),
        "build-model-features": build_model_features(),
        "summarize-model-panel": summarize_model_panel(),
        "choose-model-settings": choose_model_settings(),
        "train-forecast-model": train_forecast_model(),
        "backtest-forecast": backtest_forecast(),
        "forecast-next-weeks-build-forecast-report-write-forecasts": forecast_next_weeks_build_forecast_report_write_forecasts(),
        "quality-gate": quality_gate(),
        "refresh-tableau": refresh_tableau(),
        "alert-on-refresh": alert_on_refresh(),
        "notify-run-end": notify_run_end(),
    }
    freshness = dbt_source_freshness()
    freshness >> tasks["dbt-run"]
    wait_for_week_files >> tasks["plan-ingestion-parse-new-files"]
    tasks["plan-ingestion-parse-new-files"] >> tasks["summarize-ingestion"]
    tasks["summarize-ingestion"] >> freshness
    tasks["dbt-run"] >> tasks["dbt-test"]
    tasks["dbt-test"] >> tasks["build-model-panel"]
    tasks["build-model-panel"] >> tasks["build-model-features"]
    tasks["build-model-panel"] >> tasks["summarize-model-panel"]
    tasks["build-model-features"] >> tasks["choose-model-settings"]
    tasks["build-model-features"] >> tasks["train-forecast-model"]
    tasks["choose-model-settings"] >> tasks["train-forecast-model"]
    tasks["build-model-features"] >> tasks["backtest-forecast"]
    tasks["choose-model-settings"] >> tasks["backtest-forecast"]
    tasks["train-forecast-model"] >> tasks["backtest-forecast"]
    tasks["build-model-features"] >> tasks["forecast-next-weeks-build-forecast-report-write-forecasts"]
    tasks["summarize-model-panel"] >> tasks["forecast-next-weeks-build-forecast-report-write-forecasts"]
    tasks["train-forecast-model"] >> tasks["forecast-next-weeks-build-forecast-report-write-forecasts"]
    tasks["backtest-forecast"] >> tasks["forecast-next-weeks-build-forecast-report-write-forecasts"]
    tasks["quality-gate"] >> tasks["forecast-next-weeks-build-forecast-report-write-forecasts"]
    tasks["choose-model-settings"] >> tasks["quality-gate"]
    tasks["train-forecast-model"] >> tasks["quality-gate"]
    tasks["backtest-forecast"] >> tasks["quality-gate"]
    tasks["quality-gate"] >> tasks["refresh-tableau"]
    tasks["forecast-next-weeks-build-forecast-report-write-forecasts"] >> tasks["refresh-tableau"]
    tasks["refresh-tableau"] >> tasks["alert-on-refresh"]
    tasks["refresh-tableau"] >> tasks["notify-run-end"]
    tasks["alert-on-refresh"] >> tasks["notify-run-end"]


sellout()