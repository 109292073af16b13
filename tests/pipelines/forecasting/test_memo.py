"""Reuse of backtest cells and trained models when their inputs have not changed."""

import numpy as np
import pandas as pd
import pytest
from support.forecast_panels import promo_panel

from sellout.pipelines.features.nodes import build_model_features
from sellout.pipelines.forecasting import memo as memo_module
from sellout.pipelines.forecasting import nodes
from sellout.pipelines.forecasting.memo import Memo, fingerprint

FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4]}
PARAMS = {
    "backtest": {"origins": 2, "horizon": 2},
    "lightgbm": {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "num_threads": 1},
}
RUN = {"run_id": "run-1", "mode": "incremental", "dry_run": False, "env": "test", "started_at": "x"}


class Counter:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def test_same_key_computes_once_and_other_keys_compute_again(tmp_path):
    memo = Memo(tmp_path)
    compute = Counter({"a": 1})
    assert memo.get_or_compute("kind", "k1", compute) == {"a": 1}
    assert memo.get_or_compute("kind", "k1", compute) == {"a": 1}
    assert compute.calls == 1
    memo.get_or_compute("kind", "k2", compute)
    assert compute.calls == 2


def test_no_directory_always_computes():
    compute = Counter(1)
    Memo(None).get_or_compute("kind", "k", compute)
    Memo("").get_or_compute("kind", "k", compute)
    assert compute.calls == 2


def test_an_unreadable_entry_is_computed_again_and_replaced(tmp_path):
    memo = Memo(tmp_path)
    memo.get_or_compute("kind", "k", Counter(1))
    (entry,) = tmp_path.glob("kind-*.pkl")
    entry.write_bytes(b"not a pickle")
    compute = Counter(2)
    assert memo.get_or_compute("kind", "k", compute) == 2 and compute.calls == 1
    assert Memo(tmp_path).get_or_compute("kind", "k", Counter(3)) == 2


def test_only_the_newest_entries_of_a_kind_are_kept(tmp_path):
    memo = Memo(tmp_path)
    for i in range(memo_module.KEEP + 2):
        memo.get_or_compute("kind", f"k{i}", Counter(i))
    memo.get_or_compute("other", "k", Counter(0))
    assert len(list(tmp_path.glob("kind-*.pkl"))) == memo_module.KEEP
    assert len(list(tmp_path.glob("other-*.pkl"))) == 1
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_fingerprint_follows_content_types_and_parameters():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    key = fingerprint({"f": frame}, {"p": 1})
    assert fingerprint({"f": frame.copy()}, {"p": 1}) == key
    assert fingerprint({"f": frame.assign(a=[1, 3])}, {"p": 1}) != key
    assert fingerprint({"f": frame.astype({"a": "float64"})}, {"p": 1}) != key
    assert fingerprint({"f": frame}, {"p": 2}) != key


def test_an_unchanged_panel_reuses_the_backtest_and_the_model(tmp_path, monkeypatch):
    panel = promo_panel(64, stores=("S1", "S2"))
    features = build_model_features(panel, FEATURES)
    params = {**PARAMS, "memo_dir": str(tmp_path)}
    metrics, cells, _ = nodes.backtest_forecast(panel, RUN, params, FEATURES)
    model = nodes.train_forecast_model(features, panel, params, FEATURES)

    def no_fitting(*args, **kwargs):
        raise AssertionError("fitted again although nothing changed")

    monkeypatch.setattr(nodes, "run_backtest", no_fitting)
    monkeypatch.setattr(nodes.TrainingSet, "fit", no_fitting)
    again_metrics, again_cells, _ = nodes.backtest_forecast(
        panel, {**RUN, "run_id": "run-2"}, params, FEATURES
    )
    again_model = nodes.train_forecast_model(features, panel, params, FEATURES)
    pd.testing.assert_frame_equal(again_metrics.drop(columns="run_id"), metrics.drop(columns="run_id"))
    assert (again_cells["run_id"] == "run-2").all()
    x = np.zeros((1, len(model.features)), dtype="float32")
    assert again_model.predict_matrix(x) == pytest.approx(model.predict_matrix(x))

    changed = panel.copy()
    changed.loc[changed.index[-1], "units"] += 1
    with pytest.raises(AssertionError, match="fitted again"):
        nodes.backtest_forecast(changed, RUN, params, FEATURES)
