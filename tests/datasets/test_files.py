"""Local files of the data folder: Parquet, the optional CSV and Plotly figures, each written whole or not at all."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.io import DatasetError

from sellout.datasets.files import OptionalCSVDataset, ParquetFileDataset, PlotlyJSONDataset


def test_parquet_round_trip_and_preview(tmp_path):
    frame = pd.DataFrame({"store_code": ["S1", "S2", "S3"], "units": [1.5, 0.0, 2.25]})
    dataset = ParquetFileDataset(str(tmp_path / "panel" / "model_panel.parquet"))
    dataset.save(frame)
    pd.testing.assert_frame_equal(dataset.load(), frame)
    assert dataset.preview(nrows=2) == {
        "index": [0, 1],
        "columns": ["store_code", "units"],
        "data": [["S1", 1.5], ["S2", 0.0]],
    }


def test_a_parquet_write_that_fails_keeps_the_previous_file(tmp_path):
    path = tmp_path / "model_panel.parquet"
    dataset = ParquetFileDataset(str(path))
    dataset.save(pd.DataFrame({"units": [1.0, 2.0]}))
    unwritable = pd.DataFrame({"units": [object(), object()]})  # pyarrow cannot store a bare object
    with pytest.raises(DatasetError):
        dataset.save(unwritable)
    pd.testing.assert_frame_equal(dataset.load(), pd.DataFrame({"units": [1.0, 2.0]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_panel.parquet"]  # no temporary file left


def test_a_missing_parquet_file_names_itself(tmp_path):
    with pytest.raises(DatasetError, match="never_written.parquet does not exist"):
        ParquetFileDataset(str(tmp_path / "never_written.parquet")).load()


def test_the_optional_csv_loads_empty_when_absent_and_typed_when_present(tmp_path):
    path = tmp_path / "promo_plan.csv"
    dataset = OptionalCSVDataset(str(path), load_args={"dtype": {"store_code": str}})
    assert dataset.load().empty
    path.write_text("store_code,week_end_date,promotion\n007,2026-01-04,true\n", encoding="utf-8")
    assert dataset.load()["store_code"].tolist() == ["007"]  # the code keeps its leading zeros


def test_the_optional_csv_saves_without_the_index(tmp_path):
    path = tmp_path / "promo_plan.csv"
    OptionalCSVDataset(str(path)).save(pd.DataFrame({"store_code": ["S1"]}))
    assert path.read_text(encoding="utf-8") == "store_code\nS1\n"


def test_a_plotly_figure_round_trips_and_previews_as_its_json(tmp_path):
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3.0, 4.5], name="forecast"))
    dataset = PlotlyJSONDataset(str(tmp_path / "forecast_chart.json"))
    dataset.save(figure)
    loaded = dataset.load()
    assert isinstance(loaded, go.Figure)
    assert loaded.data[0].name == "forecast" and list(loaded.data[0].y) == [3.0, 4.5]
    assert dataset.preview()["data"][0]["name"] == "forecast"
