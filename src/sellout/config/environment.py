"""Environment variables the configuration needs: every ``${oc.env:NAME}`` without a default, listed all at once.

Kedro's loader stops at the first variable it cannot resolve; this reads the YAML files themselves, so that a
missing ``SUPABASE_DB_URL`` and a missing ``TABLEAU_SITE`` are reported together, each with its file and key. A key
that the environment's folder overrides is judged by the override.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from sellout.config.yaml_files import read_yaml

_REQUIRED = re.compile(r"\$\{oc\.env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
GROUPS = ("catalog", "credentials", "parameters", "sources", "notifications", "airflow", "globals")


def missing_variables(conf_path: Path, env: str, base_env: str = "base") -> list[str]:
    """One problem per needed variable that is not set: ``conf/prod/credentials.yml: db.url needs ...``."""
    needed: dict[tuple[str, str], tuple[str, str]] = {}  # (group, key) -> (file label, variable)
    for folder in (base_env, env):
        for path in sorted((conf_path / folder).rglob("*.y*ml")):
            group = next((g for g in GROUPS if path.name.startswith(g) or g in path.parts[-2:-1]), None)
            if group is None:
                continue
            label = str(path.relative_to(conf_path.parent))
            try:
                content = read_yaml(path) or {}
            except yaml.YAMLError:
                continue  # the YAML check reports it
            for key, value in _strings(content):
                found = _REQUIRED.findall(value)
                if folder == env:
                    needed.pop((group, key), None)  # the environment's value replaces the base's
                for name in found:
                    needed[(group, key)] = (label, name)
    return [
        f"{label}: {key} needs the environment variable {name} (set it, or put it in .env)"
        for (_, key), (label, name) in sorted(needed.items(), key=lambda item: item[1])
        if not os.environ.get(name)
    ]


def _strings(value: Any, prefix: str = ""):
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _strings(child, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, f"{prefix}[{index}]")
    elif isinstance(value, str):
        yield prefix, value
