"""Content keys: they change with the data, its types and the settings, and only with them."""

import numpy as np
import pandas as pd

from sellout.pipelines.features.fingerprint import code_digest, digest


def test_digest_follows_content_types_and_parameters():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    key = digest(frames={"f": frame}, settings={"p": 1})
    assert digest(frames={"f": frame.copy()}, settings={"p": 1}) == key
    assert digest(frames={"f": frame.assign(a=[1, 3])}, settings={"p": 1}) != key
    assert digest(frames={"f": frame.astype({"a": "float64"})}, settings={"p": 1}) != key
    assert digest(frames={"f": frame}, settings={"p": 2}) != key
    assert digest(arrays=[np.zeros(3)]) != digest(arrays=[np.zeros((3, 1))])


def test_the_code_digest_is_the_package_source():
    assert code_digest("sellout.pipelines.features") != code_digest("sellout.pipelines.forecasting")
    assert len(code_digest("sellout.pipelines.features")) == 64


def test_digest_follows_each_kind_of_column():
    frame = pd.DataFrame(
        {
            "code": pd.Categorical(["a", "b", "a"]),
            "text": pd.Series(["x", "y", "z"], dtype="str"),
            "week": pd.to_datetime(["2024-01-06", "2024-01-13", "2024-01-20"]),
            "units": [1.0, np.nan, 3.0],
            "flag": pd.array([True, None, False], dtype="boolean"),
            "done": [True, False, True],
        }
    )
    key = digest(frames={"f": frame})
    assert digest(frames={"f": frame.copy()}) == key
    changed = {
        "code": pd.Categorical(["a", "b", "b"]),
        "text": pd.Series(["x", "y", "w"], dtype="str"),
        "week": pd.to_datetime(["2024-01-06", "2024-01-13", "2024-01-27"]),
        "units": [1.0, 2.0, 3.0],
        "flag": pd.array([True, False, False], dtype="boolean"),
        "done": [True, True, True],
    }
    for column, values in changed.items():
        assert digest(frames={"f": frame.assign(**{column: values})}) != key, column
    assert digest(frames={"f": frame.iloc[::-1].reset_index(drop=True)}) != key
    assert digest(frames={"f": frame.iloc[:2]}) != key
