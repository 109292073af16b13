"""`make bench-forecast DATA=pipeline`: a retailer the team onboarded, benchmarked from the pipeline's model panel."""

import importlib
import json
from pathlib import Path

import pandas as pd
import pytest
from support.forecast_panels import promo_panel

from sellout.pipelines.preprocessing.nodes import build_model_panel

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(monkeypatch):
    # the benchmarks are scripts of the project, not an installed package: import them from the project root
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("benchmarks.forecast"), importlib.import_module("benchmarks.forecast_data")


def _panel_file(tmp_path: Path, sources=("grocer_a",), n_weeks: int = 60) -> Path:
    """A model panel file as the pipeline writes it: the preprocessing of each source's weekly rows."""
    weekly = pd.concat(
        [
            promo_panel(n_weeks, stores=(f"{s}-1", f"{s}-2"), seed=i)
            .drop(columns="is_filled")
            .assign(source=s)
            for i, s in enumerate(sources)
        ],
        ignore_index=True,
    )
    path = tmp_path / "model_panel.parquet"
    build_model_panel(weekly, {"success": True}, {"min_weeks_history": 1}).to_parquet(path, index=False)
    return path


def test_one_source_of_a_panel_file_is_benchmarked(bench, tmp_path, capsys):
    forecast, _ = bench
    path = _panel_file(tmp_path, n_weeks=24)  # a retailer's first half year: the warm-up origins fit in 7-9
    assert forecast.main(["--data", str(path), "--skip-mlforecast"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["data"] == "grocer_a"
    assert result["known_inputs"] == "rule"  # production's for a source without a promo plan (conf/base)
    # 4 series x 13 origins (weeks 10-22), horizons 1-4 on or before week 23
    assert result["cells"] == 4 * (10 * 4 + 3 + 2 + 1)
    assert 0 < result["wape"] < result["baselines"]["naive"]


def test_a_panel_of_several_sources_needs_one_named(bench, tmp_path, capsys):
    forecast, data = bench
    path = _panel_file(tmp_path, sources=("grocer_a", "grocer_b"))
    assert forecast.main(["--data", str(path), "--skip-mlforecast"]) == 2
    assert "holds the sources grocer_a, grocer_b: name one" in capsys.readouterr().err
    name, panel = data.load_panel_file(path, "grocer_b")
    assert name == "grocer_b"
    assert set(panel["source"]) == {"grocer_b"}
    assert list(panel["source"].cat.categories) == ["grocer_b"]
    with pytest.raises(data.PanelFileError, match="has no source 'grocer_c'; it holds grocer_a, grocer_b"):
        data.load_panel_file(path, "grocer_c")


def test_files_that_are_no_model_panel_are_refused_by_name(bench, tmp_path):
    _, data = bench
    with pytest.raises(data.PanelFileError, match="no model panel at .*absent.parquet"):
        data.load_panel_file(tmp_path / "absent.parquet", None)
    text = tmp_path / "panel.parquet"
    text.write_text("week,units\n")
    with pytest.raises(data.PanelFileError, match="panel.parquet is not a parquet file"):
        data.load_panel_file(text, None)
    no_source = tmp_path / "no_source.parquet"
    promo_panel(10).to_parquet(no_source, index=False)
    with pytest.raises(
        data.PanelFileError, match="no_source.parquet is not a model panel: it has no source column"
    ):
        data.load_panel_file(no_source, None)


def test_a_panel_too_short_to_backtest_is_refused_in_a_line(bench, tmp_path, capsys):
    forecast, _ = bench
    path = _panel_file(tmp_path, n_weeks=6)
    assert forecast.main(["--data", str(path), "--skip-mlforecast"]) == 2
    err = capsys.readouterr().err
    assert "bench-forecast: grocer_a: too little history to forecast: the panel has 6 weeks" in err
    assert "Traceback" not in err
