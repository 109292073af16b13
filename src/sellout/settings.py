"""Kedro project settings: hooks, the config loader and the session store (see sellout.config.loader)."""

from dotenv import find_dotenv, load_dotenv

from sellout.config import loader
from sellout.datasets.write_behind import PendingWritesHooks
from sellout.ops.dry_run import DryRunGuardHooks
from sellout.ops.hooks import StartupCheckHooks
from sellout.ops.lineage import LineageHooks
from sellout.ops.observability import ObservabilityHooks
from sellout.ops.pause_points import PausePointHooks
from sellout.ops.run_control import RunControlHooks

# A project's .env (git-ignored) fills in variables that the environment does not set.
load_dotenv(find_dotenv(usecwd=True), override=False)

# Pluggy calls the last registered hook first (tryfirst ones before the others). Before a run: the dry-run guard
# stops a half dry run, the start-up checks stop a run whose config or landing folders are wrong, the run lock is
# taken, then the run records start; after it the write-behind files are waited for first (tryfirst: a run whose
# file failed is not recorded as succeeded) and the lock is released last (trylast). PausePointHooks are inert unless
# a fault-injection test sets SELLOUT_PAUSE_AT.
HOOKS = (
    PausePointHooks(),
    PendingWritesHooks(),
    ObservabilityHooks(),
    RunControlHooks(),
    StartupCheckHooks(),
    DryRunGuardHooks(),
)

CONFIG_LOADER_CLASS = loader.ProjectConfigLoader
CONFIG_LOADER_ARGS = loader.CONFIG_LOADER_ARGS
SESSION_STORE_CLASS = loader.RunIdSessionStore

HOOKS = (LineageHooks(), *HOOKS)  # OpenLineage events (conf/base/lineage.yml): runs last, only observes
