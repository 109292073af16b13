"""Start-up checks: every config file is validated before anything runs, and the run announces itself."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from sellout.config.project import ProjectConfig
from sellout.config.schema import ConfigError

logger = logging.getLogger(__name__)


class StartupCheckHooks:
    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        """Sources, notifications, Airflow settings and parameters, all at once: one message lists every problem."""
        problems = ProjectConfig.of_context(context).problems()
        if problems:
            raise ConfigError(problems)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        run_context = catalog.load("run_context")
        logger.info(
            "Run %s starting: pipeline(s) %s, mode %s, env %s%s",
            run_context["run_id"],
            ",".join(run_params.get("pipeline_names") or ["__default__"]),
            run_context["mode"],
            run_context["env"],
            " (dry run)" if run_context["dry_run"] else "",
        )
