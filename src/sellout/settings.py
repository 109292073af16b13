"""Kedro project settings: hooks, the config loader and the session store (see sellout.config.loader)."""

from dotenv import find_dotenv, load_dotenv

from sellout.config import loader
from sellout.ops.dry_run import DryRunGuardHooks
from sellout.ops.hooks import StartupCheckHooks
from sellout.ops.observability import ObservabilityHooks

# A project's .env (git-ignored) fills in variables that the environment does not set.
load_dotenv(find_dotenv(usecwd=True), override=False)

# The guard is last: the last registered hook runs first, so it stops a dry run that would run nodes.
HOOKS = (StartupCheckHooks(), ObservabilityHooks(), DryRunGuardHooks())

CONFIG_LOADER_CLASS = loader.ProjectConfigLoader
CONFIG_LOADER_ARGS = loader.CONFIG_LOADER_ARGS
SESSION_STORE_CLASS = loader.RunIdSessionStore
