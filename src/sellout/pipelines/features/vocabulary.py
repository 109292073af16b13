"""The codes of the series' categorical attributes, fitted once on the panel and kept with the model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sellout.config.model_parameters import CATEGORICAL_ATTRIBUTES


@dataclass
class CategoryVocabulary:
    """The code of every attribute value (stable between training and forecasting)."""

    codes: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def fit(cls, series: pd.DataFrame) -> CategoryVocabulary:
        codes = {}
        for col in CATEGORICAL_ATTRIBUTES:
            values = series[col].astype("str") if col in series.columns else pd.Series(dtype="str")
            codes[col] = {v: i for i, v in enumerate(sorted(values.dropna().unique()))}
        return cls(codes)

    def encode(self, series: pd.DataFrame) -> dict[str, np.ndarray]:
        """Codes per series row; a value unseen in training is NaN (LightGBM's missing category)."""
        out = {}
        for col, mapping in self.codes.items():
            if col in series.columns:
                # one hash lookup of the whole column (a per-value map took 5 ms a column at 5 times dunnhumby,
                # and every forecast window encodes the panel's series); an unseen value's position is -1: the
                # NaN appended last
                position = pd.Index(list(mapping), dtype="str").get_indexer(series[col].astype("str"))
                codes = np.append(np.fromiter(mapping.values(), dtype="float64", count=len(mapping)), np.nan)
                out[col] = codes[position]
            else:
                out[col] = np.full(len(series), np.nan)
        return out
