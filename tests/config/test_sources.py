from pathlib import Path

import pytest
import yaml

from sellout.config.sources import ConfigError, validate_sources

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _minimal(**overrides):
    entry = {
        "directory": "data/01_landing/x",
        "sellout": {
            "pattern": "*.csv",
            "columns": {"week_end_date": "w", "store_code": "s", "product_code": "p", "units": "u"},
        },
    }
    entry.update(overrides)
    return {"sources": {"x": entry}}


def test_project_sources_file_is_valid():
    raw = yaml.safe_load((PROJECT_ROOT / "conf/base/sources.yml").read_text())
    # The loader resolves ${oc.env:...}; here the raw strings are enough to validate the structure.
    sources = validate_sources(raw, PROJECT_ROOT)
    assert {"grocer_a", "grocer_b", "dunnhumby"} <= set(sources)
    assert sources["grocer_b"].sellout.csv.decimal == ","
    assert Path(sources["grocer_a"].directory).is_absolute()


def test_relative_directory_is_resolved_under_the_project(tmp_path):
    sources = validate_sources(_minimal(), tmp_path)
    assert sources["x"].directory == str((tmp_path / "data/01_landing/x").resolve())


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_minimal(colour="red"), "sources.x.colour: unknown key"),
        (_minimal(sellout={"pattern": "*.csv", "columns": {"store_code": "s"}}), "required canonical column"),
        (
            _minimal(
                sellout={
                    "pattern": "*.csv",
                    "columns": {
                        "week_end_date": "w",
                        "store_code": "s",
                        "product_code": "p",
                        "units": "u",
                        "qty": "q",
                    },
                }
            ),
            "unknown canonical column(s) ['qty']",
        ),
        (
            _minimal(
                sellout={
                    "pattern": "*.csv",
                    "csv": {"encoding": "klingon"},
                    "columns": {"week_end_date": "w", "store_code": "s", "product_code": "p", "units": "u"},
                }
            ),
            "sources.x.sellout.csv.encoding",
        ),
        (_minimal(stores={"pattern": "s.csv", "columns": {"store_name": "n"}}), "must map 'store_code'"),
        ({"sauces": {}}, "top-level key 'sources' is missing"),
    ],
)
def test_bad_config_names_file_key_and_reason(entry, expected):
    with pytest.raises(ConfigError) as error:
        validate_sources(entry, Path("."), "conf/base/sources.yml")
    message = str(error.value)
    assert "conf/base/sources.yml" in message
    assert expected in message
