"""The choice of each source's settings, from its own history, before the backtest window.

Settings measured on one retailer do not carry to the next: a drugstore chain's weekly store sales value, a
grocer's slow-selling UPCs on deal, a feed with half a year of outages. So a small set of candidate
configurations (``forecasting.selection.candidates``; the first is the default) is tried on each source, and
the source keeps the one with the lowest WAPE on a validation window, unless it beats the default by less than
``min_gain``: a choice on noise is no choice. The default candidates each answer a different question:

* ``scaled_tweedie``: the base settings: a Tweedie loss (counts, many small values and zeros) on the target
  scaled by each series' level (one model for series that sell 2 and 2,000);
* ``raw_tweedie``: no level scaling: for feeds where a series' recent level is a poor yardstick (intermittent
  sales, levels that jump after outages or launches) and trees do better splitting on the level itself;
* ``scaled_huber``: a Huber loss on the scaled target, weighted by the level: absolute (what WAPE sums) for
  errors beyond ``lightgbm.huber_delta`` of the series' level, so it aims at the median, not the mean: for
  smooth high-volume series (store sales) that Tweedie under-weights, and for deal-driven feeds forecast without
  a promo plan, whose mean is pulled up by deal weeks nobody announced. (``regression_l1`` aims there too, but
  takes the median of every leaf at every round: two to three times the fit.)
* ``own_history``: without the cross-series features (product and store-category aggregates, attributes): for
  feeds with one series per store, or few series, where they only repeat the series itself.

The validation window ends where the backtest's first origin begins: its targets are weeks on or before the
first origin, so the backtest stays out of sample. Each candidate is fitted once, ``validation_origins`` weeks
before the backtest's horizon ends ahead of the first origin, and forecasts horizons 1..``backtest.horizon``
from each of those origins, with the source's known inputs as production would have them; on at most
``max_series`` series of the source (an even sample: the fits stay cheap), with ``rounds`` boosting rounds at a
learning rate raised to keep learning_rate x rounds (the fit ranks candidates; it is not published). The choice
runs when the model is fitted in full; a refresh keeps the settings of its full fit (the ``model_settings``
record).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sellout.config.model_parameters import ForecastingParams, LightGBMParams
from sellout.pipelines.features.feature_set import FeatureSet

from .backtest import origin_columns
from .model import ForecastModel, recursive_forecast
from .parallel import fit_workers, in_order
from .plan import known_future
from .segments import candidates, resolve, source_rows
from .training import TrainingSet


def choose_settings(
    feature_set: FeatureSet, params: ForecastingParams, promo_plan: pd.DataFrame | None = None
) -> dict[str, dict[str, Any]]:
    """Each source's chosen candidate, with the validation WAPE of every candidate and why it was chosen."""
    panel = feature_set.panel
    backtest = params.backtest
    first_origin = origin_columns(panel, backtest.origins, backtest.min_training_weeks)[0]
    return {
        source: _choose(feature_set, params, source, rows, first_origin, promo_plan)
        for source, rows in source_rows(panel).items()
    }


def validation_origins(first_backtest_origin: int, horizon: int, n_origins: int) -> list[int]:
    """The origins whose horizons 1..``horizon`` end on or before the backtest's first origin."""
    last = first_backtest_origin - horizon
    return [o for o in range(last - n_origins + 1, last + 1) if o >= 1]


def even_sample(rows: np.ndarray, n: int | None) -> np.ndarray:
    """At most ``n`` of ``rows``, evenly spread over them (all if ``n`` is None or not smaller)."""
    if n is None or len(rows) <= n:
        return rows
    return rows[np.unique(np.linspace(0, len(rows) - 1, n).round().astype("int64"))]


def _validation_lightgbm(lightgbm: LightGBMParams, rounds: int | None) -> LightGBMParams:
    """The candidate's LightGBM settings for its validation fit: ``rounds`` rounds at the same total step."""
    if rounds is None or rounds >= lightgbm.n_estimators:
        return lightgbm
    rate = lightgbm.learning_rate * lightgbm.n_estimators / rounds
    return lightgbm.model_copy(update={"n_estimators": rounds, "learning_rate": rate})


def _choose(
    feature_set: FeatureSet,
    params: ForecastingParams,
    source: str,
    rows: np.ndarray,
    first_origin: int,
    promo_plan: pd.DataFrame | None,
) -> dict[str, Any]:
    selection, horizon = params.selection, params.backtest.horizon
    listed = candidates(params)
    known = params.known_inputs_of(source)
    record: dict[str, Any] = {"candidate": listed[0].name, "validation_wape": {}, "series": int(len(rows))}
    origins = validation_origins(first_origin, horizon, selection.validation_origins)
    if len(listed) == 1:
        return {**record, "reason": "one candidate: no choice"}
    if not origins:
        return {**record, "reason": "no weeks before the backtest window to validate on: the default"}
    panel = feature_set.panel
    sample = even_sample(rows[feature_set.trained[rows]], selection.max_series)  # of the fitted series
    record["series"] = int(len(sample))
    record["validation_weeks"] = [
        str(panel.weeks[origins[0] + 1].date()),
        str(panel.weeks[first_origin].date()),
    ]
    trainings = {}
    for candidate in listed:
        settings = resolve(params, feature_set.engine, candidate, known)
        training = TrainingSet(
            feature_set, params.train_weeks, settings.target_scale, series=sample, columns=settings.columns
        )
        if training.fit_rows(origins[0]) < selection.min_training_rows:
            return {
                **record,
                "reason": f"fewer than {selection.min_training_rows} training rows before the validation "
                "window: the default",
            }
        trainings[candidate.name] = (training, _validation_lightgbm(settings.lightgbm, selection.rounds))
    matrix_bytes = max(training.matrix_bytes(origins[0]) for training, _ in trainings.values())
    workers, threads = fit_workers(
        params.parallel_fits, params.lightgbm.num_threads, len(trainings), matrix_bytes
    )
    threads = threads if workers > 1 else None  # the forecasts beside the fits too (backtest._fits says why)

    def fit(name: str) -> ForecastModel:
        training, lightgbm = trainings[name]
        return training.fit(origins[0], lightgbm, num_threads=threads)

    scores = {}
    # the candidates fitted side by side, their forecasts one at a time: they write into the panel's plan
    for name, model in in_order(fit, list(trainings), workers):
        abs_error = actual_total = 0.0
        for origin in origins:
            steps = min(horizon, first_origin - origin)
            live = sample[panel.in_span[sample, origin]]
            with known_future(panel, origin, steps, [(live, known)], promo_plan, params.plan_rule):
                forecast = recursive_forecast(model, panel, origin, steps, live, threads)
            targets = slice(origin + 1, origin + steps + 1)
            actual = panel.units[live, targets]
            scored = panel.in_span[live, targets] & ~np.isnan(actual)
            abs_error += float(np.abs(forecast - actual)[scored].sum())
            actual_total += float(actual[scored].sum())
        scores[name] = abs_error / actual_total if actual_total > 0 else float("inf")
    record["validation_wape"] = {name: round(wape, 5) for name, wape in scores.items()}
    default, best = listed[0].name, min(scores, key=scores.get)
    if best != default and scores[best] < scores[default] * (1.0 - selection.min_gain):
        record["candidate"] = best
        record["reason"] = f"{best} beats {default} by more than {selection.min_gain:.0%} on validation"
    else:
        record["reason"] = f"no candidate beats {default} by more than {selection.min_gain:.0%} on validation"
    return record
