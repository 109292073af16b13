"""Settings as a dataset: plain config merged with its credentials, handed to the node that talks outside."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from sellout.integrations import db


class SettingsDataset(AbstractDataset[None, dict]):
    """Read-only: loads ``{**settings, **credentials}``; with ``database: true`` it resolves ``url`` to the
    embedded server's when no URL is configured."""

    def __init__(
        self,
        settings: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        database: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
        self._settings = dict(settings or {})
        self._credentials = dict(credentials or {})
        self._database = database

    def _describe(self) -> dict[str, Any]:
        # Only the setting names: values may be secrets.
        return {"keys": sorted({*self._settings, *self._credentials})}

    def _load(self) -> dict[str, Any]:
        merged = {**self._settings, **{k: v for k, v in self._credentials.items() if v not in (None, "")}}
        if self._database:
            merged["url"] = db.resolve_url(self._credentials)
        return merged

    def _save(self, data: None) -> None:
        raise DatasetError("Settings are read-only: change them in conf/ or the environment")
