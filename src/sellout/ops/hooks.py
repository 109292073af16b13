"""Start-up checks: every config file is validated, and the landing folders a run reads exist, before anything runs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from sellout.config.project import ProjectConfig
from sellout.config.schema import ConfigError

logger = logging.getLogger(__name__)


class StartupCheckHooks:
    def __init__(self) -> None:
        self._project: ProjectConfig | None = None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        """Sources, notifications, Airflow settings and parameters, all at once: one message lists every problem."""
        self._project = ProjectConfig.of_context(context)
        problems = self._project.problems()
        if problems:
            raise ConfigError(problems)

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        run_context = catalog.load("run_context")
        reads_landing = any("landing_files" in node.inputs for node in pipeline.nodes)
        # a dry run lists every problem among its checks instead
        if self._project is not None and reads_landing and not run_context["dry_run"]:
            missing = missing_landing_folders(self._project)
            if missing:
                raise ConfigError(missing)
        logger.info(
            "Run %s starting: pipeline(s) %s, mode %s, env %s%s",
            run_context["run_id"],
            ",".join(run_params.get("pipeline_names") or ["__default__"]),
            run_context["mode"],
            run_context["env"],
            " (dry run)" if run_context["dry_run"] else "",
        )


def missing_landing_folders(project: ProjectConfig) -> list[str]:
    """The enabled sources whose landing folder is not there (a share not mounted, data not where conf says)."""
    return [
        f"{project.label('sources')}: sources.{name}.directory: the landing folder {source.directory} does not exist "
        "(create it, mount the share, or point the source elsewhere; a source can be switched off with enabled: false)"
        for name, source in project.sources.items()
        if source.enabled and not Path(source.directory).is_dir()
    ]
