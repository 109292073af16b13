"""Where the configuration comes from: ``conf/base`` merged with ``conf/<env>``, through Kedro's OmegaConfigLoader.

Two additions to Kedro's loader, so that the catalog can say in YAML what a run needs:

- ``${globals:kedro_env}`` is the environment of the run (``local`` unless ``--env`` says otherwise) and
  ``${globals:project_path}`` the project folder (the parent of ``conf/``);
- ``${runtime_params:run_id}`` always resolves: the ``run_id`` runtime parameter, else the Kedro session id
  (:class:`RunIdSessionStore`), so one run has one id in every catalog entry, node and record.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.framework.session.store import BaseSessionStore
from omegaconf.resolvers import oc

PROJECT_ROOT_ENV = "SELLOUT_PROJECT_ROOT"
CONF_SOURCE = "conf"
BASE_ENV = "base"
DEFAULT_ENV = "local"
ENV_VARIABLE = "SELLOUT_KEDRO_ENV"

CONFIG_LOADER_ARGS: dict[str, Any] = {
    "base_env": BASE_ENV,
    "default_run_env": DEFAULT_ENV,
    "config_patterns": {
        "sources": ["sources*", "sources*/**"],
        "notifications": ["notifications*", "notifications*/**"],
        "airflow": ["airflow*", "airflow/**"],
        "lineage": ["lineage*", "lineage/**"],
    },
    # An environment's sources.yml changes single keys of a feed (enabled, directory) without repeating it.
    "merge_strategy": {"sources": "soft"},
    # Environment variables may set per-host values (paths, URLs) in any config file, not only credentials.
    "custom_resolvers": {"oc.env": oc.env},
}


def project_root() -> Path:
    """The project directory: ``SELLOUT_PROJECT_ROOT``, else the source checkout this package is installed from
    (editable install), else the nearest folder above the working directory with ``pyproject.toml`` and ``conf/``.
    """
    env_root = os.environ.get(PROJECT_ROOT_ENV)
    if env_root:
        return Path(env_root).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[3]
    if _is_project(checkout):
        return checkout
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if _is_project(folder)), checkout)


def _is_project(folder: Path) -> bool:
    return (folder / "pyproject.toml").is_file() and (folder / CONF_SOURCE).is_dir()


def default_env(env: str | None = None) -> str:
    """The environment to read: ``env``, else ``SELLOUT_KEDRO_ENV`` (``prod`` on the NAS), else ``local``."""
    return env or os.environ.get(ENV_VARIABLE) or DEFAULT_ENV


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's OmegaConfigLoader that also serves ``${globals:kedro_env}`` and ``${globals:project_path}``."""

    def __init__(self, conf_source: str, env: str | None = None, **kwargs: Any) -> None:
        self._resolved: dict[tuple[str, str], dict[str, Any]] = {}
        super().__init__(conf_source, env=env, **kwargs)
        self._globals = {
            **(self._globals or {}),
            "kedro_env": env or self.default_run_env,
            "project_path": str(Path(conf_source).resolve().parent),
        }
        self._globals_oc = None
        self._resolved.clear()  # the globals changed: what Kedro's constructor read is read again

    def __getitem__(self, key: str) -> dict[str, Any]:
        # OmegaConf's resolvers are process-wide and every new loader takes `globals` over (Kedro re-registers
        # only `runtime_params` per read): read with this loader's own globals, whatever was created since.
        self._register_globals_resolver()
        if key in self:  # set explicitly on the loader
            return super().__getitem__(key)
        # Kedro, its hooks and the project's checks read the same groups several times per run: each group is
        # read and resolved once per loader (and runtime parameters), and every caller gets its own copy.
        read_as = (key, repr(sorted((self.runtime_params or {}).items())))
        if read_as not in self._resolved:
            self._resolved[read_as] = super().__getitem__(key)
        return copy.deepcopy(self._resolved[read_as])


class RunIdSessionStore(BaseSessionStore):
    """The session store that gives a run without a ``run_id`` runtime parameter the session id as its id."""

    def read(self) -> dict[str, Any]:
        return {"runtime_params": {"run_id": self._session_id}}

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "runtime_params":
            value = {**(value or {}), "run_id": (value or {}).get("run_id") or self._session_id}
        super().__setitem__(key, value)


def config_loader(
    env: str | None = None, project_path: str | Path | None = None, runtime_params: dict | None = None
) -> ProjectConfigLoader:
    """The project's loader for ``env`` without starting a Kedro session (status, Airflow callbacks, tools)."""
    root = Path(project_path) if project_path else project_root()
    return ProjectConfigLoader(
        conf_source=str(root / CONF_SOURCE),
        env=default_env(env),
        # outside a run, catalog entries that name the run's id still resolve
        runtime_params={"run_id": "outside-a-run", **(runtime_params or {})},
        **CONFIG_LOADER_ARGS,
    )
