"""Kedro project settings: hooks, config patterns and resolvers."""

from dotenv import find_dotenv, load_dotenv
from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from sellout.dry_run import DryRunGuardHooks
from sellout.hooks import RunIdentityHooks
from sellout.observability import ObservabilityHooks

# A project's .env (git-ignored) fills in variables that the environment does not set.
load_dotenv(find_dotenv(usecwd=True), override=False)

# The guard is last: the last registered hook runs first, so it stops a dry run that would run nodes.
HOOKS = (RunIdentityHooks(), ObservabilityHooks(), DryRunGuardHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "sources": ["sources*", "sources*/**"],
        "notifications": ["notifications*", "notifications*/**"],
        "airflow": ["airflow*", "airflow/**"],
    },
    # An environment's sources.yml changes single keys of a feed (enabled, directory) without repeating it.
    "merge_strategy": {"sources": "soft"},
    # Environment variables may set per-host values (paths, URLs) in any config file, not only credentials.
    "custom_resolvers": {"oc.env": oc.env},
}
