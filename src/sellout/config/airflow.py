"""The schema of ``conf/base/airflow.yml``: the generated DAG's schedule, sensor, task policies and node kinds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import Field, ValidationError, model_validator

from sellout.config.schema import ConfigError, Strict, problems

TASK_KINDS = ("sensor", "ingestion", "dbt_build", "dbt_test", "compute", "tableau", "notify")


class TaskPolicy(Strict):
    retries: int = Field(ge=0, le=10)
    retry_delay_minutes: float = Field(gt=0)
    retry_exponential_backoff: float = Field(default=2.0, ge=0)
    max_retry_delay_minutes: float = Field(default=30, gt=0)
    execution_timeout_minutes: float = Field(gt=0)


class SensorSettings(Strict):
    poke_interval_minutes: float = Field(gt=0)
    timeout_hours: float = Field(gt=0)
    require: Literal["all", "any"] = "all"


class DagSettings(Strict):
    schedule: str
    timezone: str
    start_date: list[int] = Field(min_length=3, max_length=3)
    catchup: bool = False
    max_active_runs: int = Field(default=1, ge=1)
    owner: str = "sellout"
    dagrun_timeout_hours: float = Field(gt=0)
    forecast_deadline_hours: float = Field(gt=0)
    sensor: SensorSettings
    task_policies: dict[str, TaskPolicy]
    node_kinds: dict[str, str]

    @model_validator(mode="after")
    def _known_kinds(self) -> DagSettings:
        try:  # the IANA database Airflow's pendulum reads too (importing pendulum took 0.06 s of each start-up)
            ZoneInfo(self.timezone)
        except Exception as exc:  # noqa: BLE001 - a bad key raises ZoneInfoNotFoundError or ValueError
            raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone name") from exc
        if not croniter.is_valid(self.schedule):
            raise ValueError(f"schedule {self.schedule!r} is not a cron expression")
        missing = [kind for kind in TASK_KINDS if kind not in self.task_policies]
        if missing:
            raise ValueError(f"task_policies is missing the kind(s) {missing}")
        unknown = sorted({kind for kind in self.node_kinds.values() if kind not in self.task_policies})
        if unknown:
            raise ValueError(f"node_kinds uses kind(s) {unknown} that task_policies does not define")
        if self.task_policies["tableau"].retries != 0:
            raise ValueError("task_policies.tableau.retries must be 0: a retry would start a second refresh")
        return self


class AirflowConfig(Strict):
    default: DagSettings


def validate_airflow_config(
    raw: Mapping[str, Any], node_names: list[str] | None = None, file_label: str = "conf/base/airflow.yml"
) -> AirflowConfig:
    """Validate ``airflow.yml``; with ``node_names``, every node of the graph must have a task kind."""
    try:
        config = AirflowConfig(**dict(raw))
    except ValidationError as exc:
        raise ConfigError(problems(exc, "", file_label)) from None
    if node_names is not None:
        unmapped = sorted(set(node_names) - set(config.default.node_kinds))
        if unmapped:
            raise ConfigError(
                f"{file_label}: default.node_kinds: node(s) {unmapped} have no task kind "
                f"(one of {list(config.default.task_policies)}); add them so their retries are deliberate"
            )
    return config
