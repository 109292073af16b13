"""The forecasting parameters: the committed YAML states exactly the model's defaults, bad values are named."""

from pathlib import Path
from typing import get_args

import pytest
import yaml

from sellout.config.model_parameters import ForecastingParams
from sellout.config.schema import Strict

CONF = Path(__file__).resolve().parents[3] / "conf" / "base"


def _stated_keys(model: type[Strict], block: dict, prefix: str) -> list[str]:
    """The settings of ``model`` (nested ones included) that ``block`` leaves to the defaults."""
    missing = []
    for name, field in model.model_fields.items():
        if name not in block:
            missing.append(f"{prefix}{name}")
            continue
        nested = [t for t in (field.annotation, *get_args(field.annotation)) if isinstance(t, type)]
        models = [t for t in nested if issubclass(t, Strict)]
        if models and isinstance(block[name], dict):
            missing += _stated_keys(models[0], block[name], f"{prefix}{name}.")
    return missing


def test_committed_yaml_and_defaults_agree():
    committed = yaml.safe_load((CONF / "parameters_forecasting.yml").read_text())["forecasting"]
    assert _stated_keys(ForecastingParams, committed, "forecasting.") == ["forecasting.lightgbm.extra"]
    assert ForecastingParams.of(committed, "forecasting") == ForecastingParams()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"horizon": "eight"}, r"forecasting\.horizon: Input should be a valid integer"),
        ({"backtest": {"plan": "actual"}}, r"forecasting\.backtest\.plan: unknown key"),
        (
            {"known_inputs": "guess"},
            r"forecasting\.known_inputs: Input should be 'rule', 'plan' or 'actual_is_plan'",
        ),
        ({"known_inputs_by_source": {"a": "x"}}, r"forecasting\.known_inputs_by_source\.a: Input should be"),
        ({"selection": {"candidates": [{"name": "a"}, {"name": "a"}]}}, "candidate names must be unique"),
        (
            {"selection": {"candidates": [{"name": "a", "drop_groups": ["lags"]}]}},
            r"drop_groups\.0: Input should be",
        ),
        (
            {"selection": {"candidates": [{"name": "a", "objective": "cross_entropy"}]}},
            r"objective: Input should be",
        ),
        ({"intervals": {"lower": 0.6}}, "0 < lower < 0.5 < upper < 1"),
        ({"lightgbm": {"n_trees": 10}}, r"forecasting\.lightgbm\.n_trees: unknown key"),
        ({"memo_dir": "/tmp"}, r"forecasting\.memo_dir: unknown key"),
        ({"plan_rule": "carry_promo"}, r"forecasting\.plan_rule: Input should be 'last_base_price'"),
        ({"target_scale": {"features": ["price"]}}, "must be unit-valued"),
    ],
)
def test_bad_values_name_the_key(params, message):
    with pytest.raises(ValueError, match=message):
        ForecastingParams.of(params, "forecasting")


def test_null_target_scale_means_raw_units():
    assert ForecastingParams.of({"target_scale": None}).target_scale is None


def test_known_inputs_per_source():
    params = ForecastingParams.of({"known_inputs": "rule", "known_inputs_by_source": {"grocer_a": "plan"}})
    assert params.known_inputs_of("grocer_a") == "plan" and params.known_inputs_of("grocer_b") == "rule"
    assert ForecastingParams().known_inputs == "rule"  # what production does when no plan is configured
