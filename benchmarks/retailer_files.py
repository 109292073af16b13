"""A retailer built from dunnhumby for the flow benchmarks: weekly delivery files, optionally N times the stores.

At scale N the 77 stores are cloned N-1 times under new codes (``<code>-<k>``), each clone's units perturbed by a
fixed-seed factor (so that clones are not copies of each other) and its spend following the units. The files are
what a retailer would deliver: one CSV per week (the last week held back, to be delivered as "the new week"), plus
stores.csv and products.csv. The Kedro environment written beside them reads them as the only source.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

SEED = 20261201
SOURCE = "dunnhumby"


@dataclass(frozen=True)
class Retailer:
    landing: Path
    held_back: Path  # the last week's file, not in the landing folder yet
    weeks: int
    rows: int
    series: int


def write_retailer(dunnhumby: Path, landing: Path, scale: int = 1) -> Retailer:
    tx = pd.read_csv(dunnhumby / "transactions.csv.gz", dtype={"STORE_NUM": "str", "UPC": "str"})
    stores = pd.read_csv(dunnhumby / "stores.csv", dtype={"STORE_ID": "str"})
    if scale > 1:
        tx, stores = _cloned(tx, stores, scale)
    landing.mkdir(parents=True, exist_ok=True)
    stores.to_csv(landing / "stores.csv", index=False)
    shutil.copy(dunnhumby / "products.csv", landing / "products.csv")
    weeks = sorted(tx["WEEK_END_DATE"].unique())
    held_back = landing.parent / f"transactions_{weeks[-1]}.csv"
    for week, rows in tx.groupby("WEEK_END_DATE", sort=True):
        rows.to_csv(held_back if week == weeks[-1] else landing / f"transactions_{week}.csv", index=False)
    series = int(tx[["STORE_NUM", "UPC"]].drop_duplicates().shape[0])
    return Retailer(landing, held_back, len(weeks), len(tx), series)


def deliver_new_week(retailer: Retailer) -> None:
    shutil.move(retailer.held_back, retailer.landing / retailer.held_back.name)


def _cloned(tx: pd.DataFrame, stores: pd.DataFrame, scale: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(SEED)
    frames, store_frames = [tx], [stores]
    for k in range(1, scale):
        clone = tx.copy()
        clone["STORE_NUM"] = clone["STORE_NUM"] + f"-{k}"
        factor = rng.lognormal(mean=0.0, sigma=0.15, size=len(clone))
        units = np.rint(clone["UNITS"].to_numpy(dtype="float64") * factor)
        clone["UNITS"] = np.maximum(units, 0).astype("int64")
        clone["SPEND"] = (clone["UNITS"] * clone["PRICE"]).round(2)
        frames.append(clone)
        store_clone = stores.copy()
        store_clone["STORE_ID"] = store_clone["STORE_ID"] + f"-{k}"
        store_frames.append(store_clone)
    return pd.concat(frames, ignore_index=True), pd.concat(store_frames, ignore_index=True)


def write_environment(project_conf: Path, work: Path, env: str, landing: Path) -> Path:
    """A copy of the project's conf with an environment ``env`` whose only source is the weekly files."""
    conf = work / "conf"
    shutil.copytree(project_conf, conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir(exist_ok=True)
    base = yaml.safe_load((project_conf / "base" / "sources.yml").read_text())
    entry = base["sources"][SOURCE]
    entry.update(enabled=True, directory=str(landing), keep_files=False)
    entry["sellout"]["pattern"] = "transactions_*.csv"
    sources = {name: {"enabled": False} for name in base["sources"] if name != SOURCE}
    (conf / env).mkdir(exist_ok=True)
    (conf / env / "sources.yml").write_text(yaml.safe_dump({"sources": {**sources, SOURCE: entry}}))
    return conf
