"""The stored-results dataset: lazy loaders by key, atomic pickles, the newest entries kept."""

import os

import pytest
from kedro.io import DataCatalog, DatasetError

from sellout.datasets import MemoDataset


def test_saved_values_load_back_lazily_by_key(tmp_path):
    memo = MemoDataset(tmp_path / "memo")
    assert memo.load() == {}  # before the first run: no folder, nothing stored
    memo.save({"k1": {"a": 1}, "k2": [1, 2]})
    loaders = memo.load()
    assert sorted(loaders) == ["k1", "k2"] and callable(loaders["k1"])
    assert loaders["k1"]() == {"a": 1} and loaders["k2"]() == [1, 2]


def test_an_empty_save_writes_nothing_and_keep_zero_stores_nothing(tmp_path):
    MemoDataset(tmp_path / "a").save({})
    assert not (tmp_path / "a").exists()
    never = MemoDataset(tmp_path / "b", keep=0)
    never.save({"k": 1})
    assert never.load() == {} and not list(tmp_path.glob("b/*"))


def test_an_unreadable_entry_loads_as_none_and_a_new_save_replaces_it(tmp_path):
    memo = MemoDataset(tmp_path)
    memo.save({"k": 1})
    (tmp_path / "k.pkl").write_bytes(b"not a pickle")
    assert memo.load()["k"]() is None
    memo.save({"k": 2})
    assert memo.load()["k"]() == 2


def test_only_the_most_recently_used_entries_are_kept(tmp_path):
    memo = MemoDataset(tmp_path, keep=2)
    for i, key in enumerate(["old", "used", "newer"]):
        memo.save({key: i})
        os.utime(tmp_path / f"{key}.pkl", (1_000 + i, 1_000 + i))
    assert sorted(memo.load()) == ["newer", "used"]  # pruned at the third save
    memo.load()["used"]()  # reading an entry marks it used
    memo.save({"newest": 3})
    assert sorted(memo.load()) == ["newest", "used"]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_keys_must_be_content_keys(tmp_path):
    with pytest.raises(DatasetError, match="not a content key"):
        MemoDataset(tmp_path).save({"../escape": 1})
    with pytest.raises(DatasetError, match="saves a dict"):
        MemoDataset(tmp_path).save([1])


def test_catalog_entries_for_reading_and_writing_one_folder(tmp_path):
    entry = {"type": "sellout.datasets.MemoDataset", "path": str(tmp_path), "keep": 3}
    catalog = DataCatalog.from_config({"stored": entry, "to_store": entry})
    catalog.save("to_store", {"abc": "value"})
    assert catalog.load("stored")["abc"]() == "value"


def test_a_full_mode_run_reads_nothing_back_and_still_stores_what_it_computed(tmp_path):
    MemoDataset(tmp_path).save({"k1": 1})
    full = MemoDataset(tmp_path, mode="full")
    assert full.load() == {}  # --mode full retrains
    full.save({"k2": 2})
    assert sorted(MemoDataset(tmp_path, mode="incremental").load()) == ["k1", "k2"]


def test_the_catalog_gives_the_runs_mode(tmp_path):
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415 - this test only

    conf = tmp_path / "conf" / "base"
    conf.mkdir(parents=True)
    (conf / "catalog.yml").write_text(
        f"stored:\n  type: sellout.datasets.MemoDataset\n  path: {tmp_path / 'memo'}\n"
        "  mode: ${runtime_params:mode,incremental}\n"
    )
    MemoDataset(tmp_path / "memo").save({"k": 1})
    for mode, expected in (("incremental", ["k"]), ("full", [])):
        loader = OmegaConfigLoader(str(tmp_path / "conf"), base_env="base", default_run_env="base",
                                   runtime_params={"mode": mode})  # fmt: skip
        assert sorted(DataCatalog.from_config(loader["catalog"]).load("stored")) == expected
