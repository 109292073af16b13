"""Local files of the run's data folder, written atomically: Parquet frames, an optional CSV input and Plotly
figures as JSON.

Kedro-datasets' ``pandas.ParquetDataset``/``CSVDataset`` and ``plotly.JSONDataset`` write the file in place (a
run killed in the middle leaves half a file), and importing them imports every pandas dataset of the package
(SQLAlchemy with them) and ``plotly.express``, about 0.25 s of each run's start-up. These read and write the
same formats with pandas and Plotly's own calls; Plotly is imported only to load a figure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import PlotlyPreview, TablePreview

from sellout.integrations.atomic_files import write_bytes, write_file


class _LocalFile(AbstractDataset):
    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = Path(filepath)
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args, "save_args": self._save_args}

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _read(self, read: Callable[..., Any]) -> Any:
        if not self._exists():
            raise DatasetError(f"{self._filepath} does not exist: the step that writes it has not run")
        return read(self._filepath, **self._load_args)


class ParquetFileDataset(_LocalFile):
    """A DataFrame as a Parquet file (``pd.read_parquet`` / ``DataFrame.to_parquet`` with the given args)."""

    def _load(self) -> pd.DataFrame:
        return self._read(pd.read_parquet)

    def _save(self, data: pd.DataFrame) -> None:
        write_file(self._filepath, lambda tmp: data.to_parquet(tmp, **self._save_args))

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first rows, for kedro-viz's table view."""
        import pyarrow.parquet as pq  # noqa: PLC0415 - kedro-viz only

        first_rows = pq.ParquetFile(self._filepath).iter_batches(
            batch_size=nrows, columns=self._load_args.get("columns")
        )
        return TablePreview(next(first_rows).to_pandas().to_dict(orient="split"))


class OptionalCSVDataset(_LocalFile):
    """A CSV file that may be absent (the promotion plan): loads as an empty frame then."""

    def _load(self) -> pd.DataFrame:
        if not self._exists():
            return pd.DataFrame()
        return self._read(pd.read_csv)

    def _save(self, data: pd.DataFrame) -> None:
        write_file(self._filepath, lambda tmp: data.to_csv(tmp, **{"index": False, **self._save_args}))


class PlotlyJSONDataset(_LocalFile):
    """A Plotly figure as its JSON (``Figure.to_json``), loaded back as a ``plotly.graph_objects.Figure``."""

    def _load(self) -> Any:
        import plotly.io  # noqa: PLC0415 - only a reader of the file needs Plotly

        return self._read(lambda path, **args: plotly.io.from_json(path.read_text(encoding="utf-8"), **args))

    def _save(self, figure: Any) -> None:
        write_bytes(self._filepath, figure.to_json(**self._save_args).encode("utf-8"))

    def preview(self) -> PlotlyPreview:
        """The figure's JSON, for kedro-viz's chart view."""
        return PlotlyPreview(json.loads(self._filepath.read_text(encoding="utf-8")))
