"""Reading the project's YAML files as written, for the checks that need a file's own content (not Kedro's merge).

libyaml's parser when PyYAML has it: the start-up checks read every config file, and the pure-Python parser
spent about 0.3 s of each run's start-up on them. Both build the same values (the safe constructor and resolver).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """The content of the YAML file at ``path`` (raises OSError, yaml.YAMLError)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
