"""Text columns that arrive as categoricals stay codes; lookups and sorting treat them as their text."""

import numpy as np
import pandas as pd

from sellout.pipelines.preprocessing.text import as_text, mapped, sorted_codes, text_filled


def _coded(values, categories):
    return pd.Series(pd.Categorical(values, categories=categories))


def test_a_text_categorical_stays_one_and_other_values_become_text():
    coded = _coded(["b", "a"], ["b", "a"])
    assert as_text(coded) is coded
    assert as_text(pd.Series([1, 2])).tolist() == ["1", "2"]


def test_missing_text_is_filled_in_a_categorical_too():
    filled = text_filled(_coded(["x", None], ["x"]), "default")
    assert filled.tolist() == ["x", "default"] and isinstance(filled.dtype, pd.CategoricalDtype)
    assert text_filled(pd.Series(["x", None], dtype="str"), "default").tolist() == ["x", "default"]


def test_lookups_by_categorical_keys_give_codes_for_text_and_numbers_for_numbers():
    keys = _coded(["S2", "S1", None, "S9"], ["S9", "S2", "S1"])
    by_key = pd.Series(["north", "south"], index=["S1", "S2"])
    looked_up = mapped(keys, by_key)
    assert isinstance(looked_up.dtype, pd.CategoricalDtype)
    assert looked_up.astype(object).where(looked_up.notna(), None).tolist() == ["south", "north", None, None]
    areas = mapped(keys, pd.Series([10.0, 20.0], index=["S1", "S2"]))
    np.testing.assert_array_equal(areas.to_numpy(), [20.0, 10.0, np.nan, np.nan])
    assert mapped(keys.astype("str"), by_key).tolist()[:2] == ["south", "north"]


def test_codes_follow_the_texts_sort_order_whatever_the_categories_order():
    values = _coded(["b", "c", "a", "b"], ["z", "c", "b", "a"])  # 'z' unused
    codes, uniques = sorted_codes(values)
    plain_codes, plain_uniques = pd.factorize(values.astype("str"), sort=True)
    assert list(uniques) == list(plain_uniques) == ["a", "b", "c"]
    np.testing.assert_array_equal(codes, plain_codes)


def test_a_missing_value_keeps_no_code_and_unused_categories_are_left_out():
    values = _coded(["b", None, "a", "b"], ["b", "unused", "a"])
    codes, uniques = sorted_codes(values)
    assert list(uniques) == ["a", "b"]
    np.testing.assert_array_equal(codes, [1, -1, 0, 1])
