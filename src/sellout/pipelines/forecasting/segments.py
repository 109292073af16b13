"""One model per source: its series, where its known inputs come from, the settings it is fitted with.

A source is one retailer's feed: its own measure (units or sales value), its own promotions and prices (or
none), its own plan (or none). Each source's model is fitted on its own series with the settings chosen for it
(selection.py): a candidate configuration (``forecasting.selection.candidates``) applied to the base settings,
and, where no plan is delivered (``known_inputs: rule``), without the features of the forecast week's own plan:
production knows nothing of a future week's deals then, and a model that learnt from them would read the
rule's "no promotion" as a promise that there is none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sellout.config.model_parameters import (
    FEATURE_GROUPS,
    CandidateParams,
    ForecastingParams,
    LightGBMParams,
    TargetScaleParams,
)
from sellout.pipelines.features.engine import FeatureEngine
from sellout.pipelines.features.feature_set import FeatureSet
from sellout.pipelines.features.wide import WidePanel

from .model import ModelSet, combined_version
from .training import BaseScores, TrainingSet

BASE_CANDIDATE = CandidateParams(name="base")


@dataclass(frozen=True)
class ModelSettings:
    """What a source's model is fitted with."""

    candidate: str
    known_inputs: str
    lightgbm: LightGBMParams
    target_scale: TargetScaleParams | None
    columns: tuple[str, ...]
    dropped_groups: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The settings as a record (model_runs, the report)."""
        return {
            "candidate": self.candidate,
            "known_inputs": self.known_inputs,
            "objective": self.lightgbm.objective,
            "scale_target": self.target_scale is not None,
            "dropped_groups": list(self.dropped_groups),
            "n_features": len(self.columns),
        }


def source_rows(panel: WidePanel) -> dict[str, np.ndarray]:
    """The panel rows of each source's series, sources in name order."""
    sources = panel.sources
    return {str(s): np.flatnonzero(sources == s) for s in sorted(set(sources))}


def candidates(params: ForecastingParams) -> list[CandidateParams]:
    """The candidates to choose from; the first is the default (the base settings if none is listed)."""
    return list(params.selection.candidates) or [BASE_CANDIDATE]


def candidate_named(params: ForecastingParams, name: str) -> CandidateParams:
    for candidate in candidates(params):
        if candidate.name == name:
            return candidate
    raise ValueError(
        f"forecasting.selection.candidates has no candidate {name!r} (the settings chosen earlier)"
    )


def resolve(
    params: ForecastingParams, engine: FeatureEngine, candidate: CandidateParams, known_inputs: str
) -> ModelSettings:
    """The base settings with ``candidate``'s changes, for a source whose known inputs are ``known_inputs``."""
    lightgbm = params.lightgbm
    if candidate.objective is not None:
        lightgbm = lightgbm.model_copy(update={"objective": candidate.objective})
    target_scale = params.target_scale
    if candidate.scale_target is False:
        target_scale = None
    elif candidate.scale_target and target_scale is None:
        target_scale = TargetScaleParams()
    dropped = {c for group in candidate.drop_groups for c in FEATURE_GROUPS[group]}
    if known_inputs == "rule":
        dropped |= set(engine.plan_columns)
    if target_scale is not None:
        dropped -= set(target_scale.features)
    columns = tuple(c for c in engine.columns if c not in dropped)
    return ModelSettings(
        candidate=candidate.name,
        known_inputs=known_inputs,
        lightgbm=lightgbm,
        target_scale=target_scale,
        columns=columns,
        dropped_groups=tuple(candidate.drop_groups),
    )


def settings_of(
    params: ForecastingParams, engine: FeatureEngine, chosen: Mapping[str, Mapping[str, Any]], source: str
) -> ModelSettings:
    """The settings ``chosen`` (the ``model_settings`` record) names for ``source`` (the default if none)."""
    record = chosen.get(source) or {}
    name = record.get("candidate") or candidates(params)[0].name
    return resolve(params, engine, candidate_named(params, name), params.known_inputs_of(source))


class SourceTrainings:
    """A training set per source, each with its settings: fits the ``ModelSet`` of an origin."""

    def __init__(
        self, feature_set: FeatureSet, params: ForecastingParams, chosen: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.params = params
        self.price_cut = feature_set.engine.promotion.price_cut
        self.chosen = {str(k): dict(v) for k, v in chosen.items()}
        self.sources: dict[str, tuple[TrainingSet, ModelSettings]] = {}
        for source, rows in source_rows(feature_set.panel).items():
            settings = settings_of(params, feature_set.engine, self.chosen, source)
            training = TrainingSet(
                feature_set, params.train_weeks, settings.target_scale, series=rows, columns=settings.columns
            )
            self.sources[source] = (training, settings)

    def version_extra(self, settings: ModelSettings) -> dict[str, Any]:
        return {
            "train_weeks": self.params.train_weeks,
            "refit": self.params.refit.model_dump(),
            "settings": settings.describe(),
        }

    def model_version(self) -> str:
        """The version of the model set these trainings fit (the one source's, or one over every source's)."""
        versions = {
            source: training.model_version(settings.lightgbm, self.version_extra(settings))
            for source, (training, settings) in self.sources.items()
        }
        return combined_version(versions)

    def fit_rows(self, until_col: int) -> int:
        return sum(training.fit_rows(until_col) for training, _ in self.sources.values())

    def matrix_bytes(self, until_col: int) -> int:
        """The largest training matrix (float32) of a source's fit at column ``until_col``."""
        return max((training.matrix_bytes(until_col) for training, _ in self.sources.values()), default=0)

    def fit(
        self,
        until_col: int,
        base: ModelSet | None = None,
        refresh_rounds: int = 0,
        num_threads: int | None = None,
    ) -> ModelSet:
        """Every source's model at column ``until_col`` (refreshed on top of ``base`` if given); a source
        without training rows by then has no model yet. ``num_threads``: LightGBM's threads (TrainingSet.fit)."""
        models, settings_by_source = {}, {}
        for source, (training, settings) in self.sources.items():
            if training.fit_rows(until_col) == 0:
                continue
            source_base = base.models.get(source) if base is not None else None
            models[source] = training.fit(
                until_col,
                settings.lightgbm,
                self.version_extra(settings),
                base=source_base,
                refresh_rounds=refresh_rounds if source_base is not None else 0,
                num_threads=num_threads,
            )
            settings_by_source[source] = {**self.chosen.get(source, {}), **settings.describe()}
        if not models:
            raise ValueError(f"no training rows up to column {until_col}: series too short?")
        return ModelSet(models, settings_by_source)

    def base_scores(self, model_set: ModelSet) -> dict[str, BaseScores]:
        """Each source's full fit's kept training scores (for production to refresh it later)."""
        return {
            source: self.sources[source][0].base_scores(model)
            for source, model in model_set.models.items()
            if model.refresh is None and source in self.sources
        }

    def adopt(self, model_set: ModelSet, scores: Mapping[str, BaseScores]) -> int:
        """Refresh ``model_set`` (a stored full fit) from the training scores kept with it; returns how many
        kept rows changed since (they are predicted again)."""
        changed = 0
        for source, model in model_set.models.items():
            if source in self.sources:
                changed += self.sources[source][0].adopt_base(model, scores.get(source))
        return changed
