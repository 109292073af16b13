import re
from pathlib import Path

import pytest
import yaml

from sellout.config.project import ProjectConfig
from sellout.config.schema import ConfigError
from sellout.config.source_validation import validate_sources
from sellout.config.tableau import TableauSettings

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


def _project(tmp_path, base: str, env: str | None = None) -> Path:
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "base" / "sources.yml").write_text(base)
    (tmp_path / "conf" / "test").mkdir()
    if env is not None:
        (tmp_path / "conf" / "test" / "sources.yml").write_text(env)
    return tmp_path


BASE = """
sources:
  x:
    directory: data/x
    sellout:
      pattern: "*.csv"
      columns: {week_end_date: w, store_code: s, product_code: p, units: u}
"""


def test_a_problem_names_the_file_that_defines_the_key(tmp_path):
    root = _project(tmp_path, BASE, "sources:\n  x:\n    sellout:\n      csv: {encodng: latin-1}\n")
    with pytest.raises(ConfigError) as error:
        _ = ProjectConfig("test", root).sources
    assert str(error.value) == (
        "conf/test/sources.yml: sources.x.sellout.csv.encodng: unknown key; did you mean 'encoding'? "
        "(check its spelling and its indentation)"
    )


def test_a_problem_in_the_base_file_names_it(tmp_path):
    root = _project(
        tmp_path, BASE.replace("units: u}", "units: u}\n      frequency: hourly"), "sources: {}\n"
    )
    with pytest.raises(ConfigError) as error:
        _ = ProjectConfig("test", root).sources
    assert str(error.value).startswith("conf/base/sources.yml: sources.x.sellout.frequency: Input should be")


@pytest.mark.parametrize(
    ("sellout", "expected"),
    [
        (
            {
                "frequency": "daily",
                "columns": {"date": "d", "store_code": "s", "product_code": "p", "units": "u"},
            },
            "a daily feed needs week_ending_weekday",
        ),
        (
            {
                "frequency": "daily",
                "week_ending_weekday": "sunday",
                "columns": {"week_end_date": "d", "store_code": "s", "product_code": "p", "units": "u"},
            },
            "a daily feed maps 'date', not 'week_end_date'",
        ),
        (
            {"columns": {"week_end_date": "w", "store_code": "s", "product_code": "p"}},
            "map 'units' (a unit feed) or 'sales_value' (a value-only feed)",
        ),
        (
            {"columns": {"week_end_date": "w", "store_code": "s", "units": "u"}},
            "required canonical column 'product_code' is not mapped: add it under columns or set it in constants",
        ),
        (
            {
                "columns": {"week_end_date": "w", "store_code": "s", "units": "u", "product_code": "p"},
                "constants": {"product_code": "ALL"},
            },
            "are both mapped to a column and set in constants",
        ),
        (
            {"columns": {"week_end_date": "w", "store_code": "s", "units": "u", "prodcut_code": "p"}},
            "'prodcut_code' -> 'product_code'?",
        ),
        (
            {
                "columns": {"week_end_date": "w", "store_code": "s", "units": "u", "product_code": "p"},
                "csv": {"delimiter": ";;"},
            },
            "the delimiter is one character",
        ),
    ],
)
def test_sellout_entries_explain_the_fix(sellout, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        validate_sources(
            _minimal(sellout={"pattern": "*.csv", **sellout}), Path("."), "conf/base/sources.yml"
        )


def test_a_value_only_daily_feed_without_products_is_valid(tmp_path):
    sources = validate_sources(
        _minimal(
            sellout={
                "pattern": "*.csv",
                "frequency": "daily",
                "week_ending_weekday": "sunday",
                "columns": {"date": "Date", "store_code": "Store", "sales_value": "Sales", "open": "Open"},
                "constants": {"product_code": "ALL"},
            }
        ),
        tmp_path,
    )
    spec = sources["x"].sellout
    assert (spec.measure, spec.date_field, spec.constants) == ("sales_value", "date", {"product_code": "ALL"})


def test_a_problem_never_repeats_a_secret_or_a_whole_block():
    with pytest.raises(ConfigError) as info:
        TableauSettings.from_config(
            {"server_url": "https://t.example.com", "token_name": "n", "jwt": "", "timeout_s": "soon"}
        )
    text = str(info.value)
    assert "timeout_s" in text and "(got 'soon')" in text
    with pytest.raises(ConfigError) as info:
        TableauSettings.from_config(
            {"server_url": "https://t.example.com", "token_name": "n", "token_secret": ""}
        )
    assert "no credentials" in str(info.value) and "(got {" not in str(info.value)
