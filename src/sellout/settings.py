"""Kedro project settings: hooks, the config loader and the session store (see sellout.config.loader)."""

from sellout.ops.garbage_collection import pace_for_batch_run

pace_for_batch_run()  # first: the imports below are part of what it speeds up

from dotenv import find_dotenv, load_dotenv  # noqa: E402

from sellout.config import loader  # noqa: E402
from sellout.datasets.write_behind import PendingWritesHooks  # noqa: E402
from sellout.ops.dry_run import DryRunGuardHooks  # noqa: E402
from sellout.ops.hooks import StartupCheckHooks  # noqa: E402
from sellout.ops.lineage import LineageHooks  # noqa: E402
from sellout.ops.observability import ObservabilityHooks  # noqa: E402
from sellout.ops.pause_points import PausePointHooks  # noqa: E402
from sellout.ops.run_control import RunControlHooks  # noqa: E402

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
