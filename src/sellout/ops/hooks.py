"""Run identity: validates the config at start-up and gives every node the same ``run_context``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from sellout.config.run import build_run_context
from sellout.config.sources import validate_sources

logger = logging.getLogger(__name__)


class RunIdentityHooks:
    def __init__(self) -> None:
        self._context = None
        self._sources: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._context = context
        try:
            raw_sources = context.config_loader["sources"]
        except MissingConfigException:
            raw_sources = {}
        if raw_sources:
            self._sources = validate_sources(
                raw_sources, Path(context.project_path), f"conf/{{base,{context.env}}}/sources.yml"
            )

    @hook_impl
    def after_catalog_created(
        self, catalog, conf_catalog, conf_creds, parameters, save_version, load_versions
    ) -> None:
        env = getattr(self._context, "env", None)
        # `parameters` is Kedro's feed dict: {"parameters": {...}, "params:<key>": ...}
        run_context = build_run_context(save_version or "interactive", parameters.get("parameters", {}), env)
        catalog["run_context"] = run_context
        catalog["sources"] = self._sources

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
