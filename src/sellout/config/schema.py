"""What every config schema shares: strict models, and errors that name the file, the key, the value and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A config file or environment value is wrong; the message has one line per problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class Strict(BaseModel):
    """A config block: unknown keys are refused, values are frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def of(cls, value: Self | Mapping[str, Any] | None, label: str | None = None) -> Self:
        """``value`` as this model: a model passes through, a mapping (or None = all defaults) is validated.

        Nodes take their parameters this way, so that a test may hand them a plain dict.
        """
        if isinstance(value, cls):
            return value
        try:
            return cls.model_validate(dict(value or {}))
        except ValidationError as exc:
            raise ConfigError(problems(exc, label or cls.__name__)) from None


def problems(exc: ValidationError, prefix: str, file_label: str | None = None) -> list[str]:
    """One line per error: ``file: key: message (got value)``."""
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        where = f"{file_label}: " if file_label else ""
        got = ""
        if _shows_value(error):
            got = f" (got {error['input']!r})"
        lines.append(f"{where}{key}: {_message(error)}{got}")
    return lines


_SECRET_PARTS = ("secret", "password", "token", "jwt", "key", "url")


def _shows_value(error: dict[str, Any]) -> bool:
    """A plain value of a key that is not a secret (nor a URL, which may carry one) is worth repeating."""
    if error["type"] in ("missing", "extra_forbidden") or "input" not in error or not error["loc"]:
        return False
    if isinstance(error["input"], dict | list | tuple):
        return False
    return not any(part in str(error["loc"][-1]).lower() for part in _SECRET_PARTS)


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check its spelling and its indentation)"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")
