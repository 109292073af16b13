"""Datasets whose source may not exist yet: they load as an empty frame instead of failing.

The quality gate reads ``forecast.model_runs`` before the first run has written it. (The optional promotion plan
file is ``files.OptionalCSVDataset``.)
"""

from __future__ import annotations

import pandas as pd

from sellout.datasets.postgres_table import PostgresTableDataset

EMPTY_DTYPES = {
    "text": "str",
    "date": "datetime64[ns]",
    "timestamptz": "str",
    "boolean": "bool",
    "integer": "int64",
    "bigint": "int64",
    "double precision": "float64",
}


class OptionalPostgresTableDataset(PostgresTableDataset):
    def _load(self) -> pd.DataFrame:
        if not self._exists():
            return pd.DataFrame(
                {
                    name: pd.Series(dtype=EMPTY_DTYPES.get(pg_type, "object"))
                    for name, pg_type in self._columns.items()
                }
            )
        return super()._load()
