"""Validating ``sources.yml``: every problem at once, each naming the file that defines the key (``conf/base`` or
``conf/<env>``), the key, what is wrong and the fix (with a "did you mean" for a misspelt key)."""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sellout.config.schema import ConfigError
from sellout.config.sources import SourceConfig
from sellout.config.yaml_files import read_yaml


def validate_sources(
    raw: dict[str, Any],
    project_path: Path,
    file_label: str = "conf/*/sources.yml",
    env: str | None = None,
    conf_path: Path | None = None,
) -> dict[str, SourceConfig]:
    """Validate the ``sources:`` mapping; raise ConfigError with one line per problem.

    Each line names the file that defines the bad key (``conf/base/sources.yml`` or ``conf/<env>/sources.yml``,
    found by reading the environment's files; ``env`` defaults to the one in ``file_label``
    ``conf/{base,<env>}/...``), the key, what is wrong and how to fix it.
    """
    conf = Path(conf_path) if conf_path is not None else Path(project_path) / "conf"
    origins = SourceFiles(conf, env if env is not None else _env_of(file_label), file_label)
    if not isinstance(raw, dict) or "sources" not in raw:
        raise ConfigError(
            f"{file_label}: top-level key 'sources' is missing (the file starts with 'sources:')"
        )
    entries = raw["sources"]
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(
            f"{origins.label_of(('sources',))}: 'sources' must be a mapping of source name to feed config"
        )
    validated: dict[str, SourceConfig] = {}
    found: list[str] = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            found.append(
                f"{origins.label_of(('sources', name))}: sources.{name}: must be a mapping, got "
                f"{type(entry).__name__}"
            )
            continue
        try:
            validated[name] = SourceConfig(name=name, **entry).with_directory_under(project_path)
        except ValidationError as exc:
            found.extend(_problem_lines(exc, str(name), origins))
    if found:
        raise ConfigError(found)
    return validated


def _env_of(file_label: str) -> str | None:
    match = re.search(r"conf/\{base,([^}]+)\}/", file_label)
    return match.group(1) if match else None


class SourceFiles:
    """The sources*.yml files of ``conf/base`` and ``conf/<env>`` as written (before merging), to say which file
    a key comes from: the environment's file when it sets the key, else base."""

    def __init__(self, conf: Path, env: str | None, fallback: str) -> None:
        self.fallback = fallback
        self.files: list[tuple[str, Any]] = []
        conf = Path(conf)
        for folder in ("base", *([env] if env and env != "base" else [])):
            paths = sorted(
                {*(conf / folder).glob("sources*.y*ml"), *(conf / folder).glob("sources*/**/*.y*ml")}
            )
            for path in paths:
                try:
                    content = read_yaml(path)
                except (OSError, yaml.YAMLError):
                    continue
                self.files.append((str(path.relative_to(conf.parent)), content))

    def label_of(self, key: tuple[Any, ...]) -> str:
        """The file that defines the longest prefix of ``key`` (a later file, the environment's, wins a tie)."""
        best, depth = self.fallback, min(2, len(key))  # a source no file names: the fallback label
        for label, content in self.files:
            reached = _depth(content, key)
            if reached >= depth:
                best, depth = label, reached
        return best


def _depth(content: Any, key: tuple[Any, ...]) -> int:
    reached = 0
    for part in key:
        if not isinstance(content, dict) or part not in content:
            break
        content = content[part]
        reached += 1
    return reached


def _problem_lines(exc: ValidationError, name: str, origins: SourceFiles) -> list[str]:
    """``file: key: what is wrong; the fix (got value)``, one line per error."""
    lines = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part != "")
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _did_you_mean(loc) + " (check its spelling and its indentation)"
        elif error["type"] == "missing":
            message = "required key is missing: add it"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        got = ""
        if error["type"] not in ("missing", "extra_forbidden") and "input" in error:
            shown = error["input"]
            if not isinstance(shown, dict | list) or len(repr(shown)) <= 80:
                got = f" (got {shown!r})"
        key = ".".join(str(part) for part in ("sources", name, *loc))
        lines.append(f"{origins.label_of(('sources', name, *loc))}: {key}: {message}{got}")
    return lines


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    """``; did you mean 'x'?`` for an unknown key, from the keys the model at its place knows."""
    model: Any = SourceConfig
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = next(
            (
                candidate
                for candidate in (field.annotation, *typing.get_args(field.annotation))
                if isinstance(candidate, type) and hasattr(candidate, "model_fields")
            ),
            None,
        )
        if model is None:
            return ""
    known = [key for key in getattr(model, "model_fields", {}) if key != "name"]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known keys here: {', '.join(known)}"
