"""Attribute codes: stable between training and forecasting, NaN for a value training never saw."""

import numpy as np
from support.forecast_panels import promo_panel

from sellout.pipelines.features.vocabulary import CategoryVocabulary
from sellout.pipelines.features.wide import to_wide


def test_category_codes_are_stable_and_unseen_values_missing():
    wp = to_wide(promo_panel(60))
    vocab = CategoryVocabulary.fit(wp.series)
    other = wp.series.copy()
    other.loc[0, "segment"] = "NEW"
    codes = vocab.encode(other)
    assert np.isnan(codes["segment"][0]) and codes["segment"][1] == vocab.codes["segment"]["MAINSTREAM"]


def test_a_missing_value_or_an_empty_vocabulary_encodes_as_missing():
    wp = to_wide(promo_panel(60))
    series = wp.series.copy()
    series.loc[1, "segment"] = None
    codes = CategoryVocabulary.fit(wp.series).encode(series)
    assert np.isnan(codes["segment"][1]) and not np.isnan(codes["segment"][0])
    empty = CategoryVocabulary({"segment": {}}).encode(series)
    assert np.isnan(empty["segment"]).all() and len(empty["segment"]) == len(series)
