"""``sellout dbt ARGS``: dbt with the project's database and the vars its models need."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import yaml

from sellout.config.project import ProjectConfig
from sellout.integrations import db as database
from sellout.integrations.dbt_runner import CANONICAL_VARS, ENV_PREFIX, dbt_env, dbt_project_dir


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.option("--env", "-e", "kedro_env", default=None, help="Kedro environment whose database to use.")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def dbt(kedro_env: str | None, dbt_args: tuple[str, ...]) -> None:
    """Run dbt with the project's database: `sellout dbt debug`, `sellout dbt source freshness` ...

    The connection is the pipeline's (SELLOUT_DB_URL, conf/<env>/credentials.yml, else the embedded server, started
    if needed), handed to dbt/profiles.yml as its SELLOUT_DBT_* variables (the password as a DBT_ENV_SECRET_*
    variable, which dbt keeps out of its logs). Everything after `dbt` (and an optional --env) goes to dbt as it is;
    `sellout dbt --help` is dbt's help. Exits with dbt's exit code.
    """
    args = list(dbt_args)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    if args and not args[0].startswith(
        "-"
    ):  # a dbt command (not --help, --version): the project's dbt and database
        project_dir = str(dbt_project_dir())
        for flag in ("--project-dir", "--profiles-dir"):
            if flag not in args:
                args += [flag, project_dir]
        args = _with_canonical_vars(args)
        project = ProjectConfig(kedro_env)
        environment.update(dbt_env(database.start_if_embedded(project.credentials.get("db"))))
    program = Path(sys.executable).parent / "dbt"
    done = subprocess.run([str(program if program.exists() else shutil.which("dbt") or "dbt"), *args],
                          env=environment, check=False)  # fmt: skip
    sys.exit(done.returncode)


def _with_canonical_vars(args: list[str]) -> list[str]:
    """The vars the models need (manifest statuses, measures) added to the user's own `--vars`, as the pipeline does."""
    given: dict = {}
    if "--vars" in args:
        at = args.index("--vars")
        given = yaml.safe_load(args[at + 1]) if at + 1 < len(args) else {}
        args = args[:at] + args[at + 2 :]
    return [*args, "--vars", json.dumps({**(given or {}), **CANONICAL_VARS}, default=str)]
