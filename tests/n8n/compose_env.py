"""What ``docker compose`` gives a service as its environment: its ``environment:`` block, interpolated from the
project's ``.env`` file the way Compose does (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?err}``,
``${VAR?err}``, ``${VAR:+alt}``, ``${VAR+alt}``, nested defaults, ``$$`` for a literal ``$``).

The n8n tests run the workflows with exactly this environment (tests/n8n/test_workflows.py), so a variable the
workflows need and the compose file does not pass fails there, not on the NAS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A ``${VAR:?message}`` whose variable is unset (Compose refuses to start), or a malformed expression."""


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a Compose ``.env`` file (comments and blank lines skipped, no quotes processing
    beyond one pair of surrounding quotes)."""
    values: dict[str, str] = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def interpolate(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            out.append(_expression(text[i + 2 : end], env))
            i = end + 1
            continue
        match = NAME.match(text, i + 1)
        if match:
            out.append(env.get(match.group(0), ""))
            i = match.end()
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"unclosed ${{ in {text!r}")


def _expression(body: str, env: Mapping[str, str]) -> str:
    match = NAME.match(body)
    if not match:
        raise InterpolationError(f"bad variable name in ${{{body}}}")
    name, rest = match.group(0), body[match.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    for operator in (":-", "-", ":?", "?", ":+", "+"):
        if rest.startswith(operator):
            argument = rest[len(operator) :]
            unset = value is None or (operator.startswith(":") and value == "")
            if operator in (":-", "-"):
                return interpolate(argument, env) if unset else value
            if operator in (":?", "?"):
                if unset:
                    raise InterpolationError(f"{name}: {interpolate(argument, env) or 'required'}")
                return value
            return "" if unset else interpolate(argument, env)
    raise InterpolationError(f"unknown operator in ${{{body}}}")


def service_environment(compose_file: Path, service: str, env: Mapping[str, str]) -> dict[str, str]:
    """The ``environment:`` of ``service`` (mapping or ``KEY=VALUE`` list), interpolated from ``env``."""
    compose: dict[str, Any] = yaml.safe_load(Path(compose_file).read_text())
    block = compose["services"][service].get("environment") or {}
    if isinstance(block, list):
        block = dict(item.split("=", 1) if "=" in item else (item, env.get(item, "")) for item in block)
    return {key: interpolate("" if value is None else str(value), env) for key, value in block.items()}
