"""The project's configuration for one environment, loaded once and validated: what every other module asks.

``ProjectConfig(env)`` reads ``conf/base`` + ``conf/<env>`` (Kedro's loader, :mod:`sellout.config.loader`) and
serves each group validated by its schema: ``sources``, ``notifications``, ``airflow``, ``credentials``,
``parameters``. :meth:`ProjectConfig.problems` validates all of them at once and lists every problem, for the
start-up check and the dry run.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException

from sellout.config.airflow import AirflowConfig, validate_airflow_config
from sellout.config.environment import missing_variables
from sellout.config.loader import config_loader, default_env, project_root
from sellout.config.model_parameters import FeatureParams, ForecastingParams
from sellout.config.notifications import Notifications, validate_notifications
from sellout.config.parameters import (
    DbtParams,
    IngestionParams,
    PreprocessingParams,
    PromotionParams,
    RunControlParams,
)
from sellout.config.schema import ConfigError, Strict
from sellout.config.secrets import Redactor
from sellout.config.source_validation import validate_sources
from sellout.config.sources import SourceConfig
from sellout.config.tableau import TableauSettings

# The parameter blocks validated at start-up, by their key in parameters*.yml.
PARAMETER_MODELS: dict[str, type[Strict]] = {
    "ingestion": IngestionParams,
    "preprocessing": PreprocessingParams,
    "promotion": PromotionParams,
    "dbt": DbtParams,
    "run_control": RunControlParams,
    "features": FeatureParams,
    "forecasting": ForecastingParams,
}


class ProjectConfig:
    def __init__(
        self,
        env: str | None = None,
        project_path: str | Path | None = None,
        runtime_params: dict | None = None,
    ) -> None:
        self.env = default_env(env)
        self.project_path = Path(project_path).resolve() if project_path else project_root()
        self.loader = config_loader(self.env, self.project_path, runtime_params)

    @classmethod
    def of_context(cls, context: Any) -> ProjectConfig:
        """The configuration a Kedro context loaded (its loader, its environment): nothing is read twice."""
        project = cls.__new__(cls)
        project.env = context.env or context.config_loader.default_run_env
        project.project_path = Path(context.project_path).resolve()
        project.loader = context.config_loader
        return project

    @property
    def conf_path(self) -> Path:
        """The config folder the loader reads (``conf/`` of the project, or Kedro's ``--conf-source``)."""
        return Path(self.loader.conf_source).resolve()

    def label(self, group: str) -> str:
        """Where a group's files are, for messages: ``conf/{base,<env>}/<group>.yml``."""
        return f"conf/{{base,{self.env}}}/{group}.yml"

    def group(self, name: str) -> dict[str, Any]:
        """A config group as loaded (``{}`` when no file matches)."""
        try:
            return dict(self.loader[name])
        except MissingConfigException:
            return {}

    @cached_property
    def data_dir(self) -> Path:
        """The data folder (``globals.data_dir``: ``SELLOUT_DATA_DIR``, else ``data`` in the project)."""
        folder = Path(str(self.group("globals").get("data_dir") or "data")).expanduser()
        return folder if folder.is_absolute() else self.project_path / folder

    @cached_property
    def credentials(self) -> dict[str, Any]:
        return self.group("credentials")

    @cached_property
    def sources(self) -> dict[str, SourceConfig]:
        raw = self.group("sources")
        return (
            validate_sources(raw, self.project_path, self.label("sources"), conf_path=self.conf_path)
            if raw
            else {}
        )

    @cached_property
    def notifications(self) -> Notifications:
        return validate_notifications(
            self.group("notifications"), self.credentials, self.label("notifications")
        )

    @cached_property
    def airflow(self) -> AirflowConfig | None:
        raw = self.group("airflow")
        return validate_airflow_config(raw, file_label=self.label("airflow")) if raw else None

    @cached_property
    def parameters(self) -> dict[str, Any]:
        return self.group("parameters")

    @cached_property
    def redactor(self) -> Redactor:
        """Every secret the configuration knows (credentials, alert channels, the database URL's password)."""
        return Redactor.from_config(
            self.credentials, self.notifications, {"url": os.environ.get("SELLOUT_DB_URL") or ""}
        )

    def _tableau_problems(self) -> list[str]:
        """The Tableau settings of every catalog entry that refreshes Tableau (its ``tableau`` block)."""
        found = []
        try:
            catalog = self.group("catalog")
        except Exception as exc:  # noqa: BLE001 - an unresolved ${...}: the catalog check names it
            return [f"{self.label('catalog')}: {type(exc).__name__}: {exc}"]
        for name, entry in catalog.items():
            if not (isinstance(entry, dict) and str(entry.get("type", "")).endswith("TableauRefreshDataset")):
                continue
            settings = dict(entry.get("tableau") or {})
            key = settings.pop("credentials", None)
            secrets = self.credentials.get(key, {}) if isinstance(key, str) else dict(key or {})
            try:
                TableauSettings.from_config(
                    {**settings, **{k: v for k, v in secrets.items() if v not in (None, "")}}
                )
            except ConfigError as exc:
                found.extend(f"{self.label('catalog')}: {name}.{line}" for line in exc.problems)
        return found

    def problems(self) -> list[str]:
        """Every problem of every group (each validated on its own, so one bad file does not hide another), and
        every environment variable the configuration needs but nobody set."""
        found = missing_variables(self.conf_path, self.env)
        if found:
            return found  # the groups cannot be resolved without them
        for group in ("sources", "notifications", "airflow"):
            try:
                getattr(self, group)
            except ConfigError as exc:
                found.extend(exc.problems)
            except Exception as exc:  # noqa: BLE001 - an unreadable file or an unresolved ${...}
                found.append(f"{self.label(group)}: {type(exc).__name__}: {exc}")
        found.extend(self._tableau_problems())
        try:
            parameters = self.parameters
        except Exception as exc:  # noqa: BLE001
            return [*found, f"{self.label('parameters')}: {type(exc).__name__}: {exc}"]
        for key, model in PARAMETER_MODELS.items():
            if key in parameters:
                try:
                    model.of(parameters[key], key)
                except ConfigError as exc:
                    found.extend(f"{self.label('parameters')}: {line}" for line in exc.problems)
        return found
