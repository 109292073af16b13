"""Each source's store and product code mappings: the retailer's codes to the company's (files and inline values)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sellout.config.schema import ConfigError
from sellout.config.sources import CodeMapping, SourceConfig

CodeMaps = dict[tuple[str, str], dict[str, str] | None]


def code_maps(sources: dict[str, SourceConfig]) -> CodeMaps:
    """Every source's store and product code mappings."""
    return {
        (name, kind): load_code_map(
            getattr(source, f"{kind[:-1]}_codes"), f"sources.{name}.{kind[:-1]}_codes"
        )
        for name, source in sources.items()
        for kind in ("stores", "products")
    }


def load_code_map(mapping: CodeMapping | None, label: str) -> dict[str, str] | None:
    """Retailer code -> company code, from the mapping's file and inline values (inline wins)."""
    if mapping is None:
        return None
    codes: dict[str, str] = {}
    if mapping.file:
        path = Path(mapping.file)
        if not path.is_file():
            raise ConfigError(
                f"conf/*/sources.yml: {label}.file: {path} does not exist: create it or fix the path"
            )
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = [c for c in (mapping.from_column, mapping.to_column) if c not in table.columns]
        if missing:
            raise ConfigError(
                f"conf/*/sources.yml: {label}.file: {path} has no column(s) {missing} (it has {list(table.columns)}): "
                "fix from_column / to_column"
            )
        codes.update(
            zip(table[mapping.from_column].str.strip(), table[mapping.to_column].str.strip(), strict=True)
        )
    codes.update({str(k): str(v) for k, v in mapping.values.items()})
    return codes
