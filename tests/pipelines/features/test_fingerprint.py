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
