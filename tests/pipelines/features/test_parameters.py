"""The features' parameters: the committed YAML states exactly the model's defaults."""

from pathlib import Path

import yaml

from sellout.config.model_parameters import FeatureParams
from sellout.config.parameters import PromotionParams

CONF = Path(__file__).resolve().parents[3] / "conf" / "base"


def test_committed_yaml_and_defaults_agree():
    committed = yaml.safe_load((CONF / "parameters_features.yml").read_text())["features"]
    assert set(committed) == set(FeatureParams.model_fields), "every setting is stated in the YAML"
    assert FeatureParams.of(committed, "features") == FeatureParams()


def test_the_promotion_rule_is_one_top_level_parameter():
    committed = yaml.safe_load((CONF / "parameters.yml").read_text())
    assert PromotionParams.of(committed["promotion"], "promotion") == PromotionParams()
    for stage in ("features", "forecasting"):
        text = (CONF / f"parameters_{stage}.yml").read_text()
        assert "price_cut" not in text and "promo_price_cut" not in text
