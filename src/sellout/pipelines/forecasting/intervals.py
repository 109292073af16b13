"""P10-P90 intervals calibrated on backtest errors (split conformal on a log scale, per horizon).

For a backtest cell with forecast f and actual y the residual is r = log1p(y) - log1p(f); the interval of a new
forecast at horizon h is ``expm1(log1p(f) + q_lo(h))`` .. ``expm1(log1p(f) + q_hi(h))`` where q_lo / q_hi are
the lower / upper quantiles of the residuals of horizon h. On the log scale the width grows with the level,
as errors of counts do. A horizon with too few cells (or beyond the backtest's) takes the residuals of the
largest horizon that has enough. The bounds always satisfy 0 <= p10 <= forecast <= p90.

Level correction: the model's backtest forecasts are off in total by a factor (a market trend the model
reverts from, e.g. roll_mean_52 above the current level), so the calibration also holds ``scale``, the
typical sum(actual) / sum(forecast) of the backtest's origins, clipped to [``MIN_SCALE``, ``MAX_SCALE``]: the
mean of the origins' log ratios, shrunk towards 0 by how uncertain that mean is (weight m^2 / (m^2 + se^2)):
a bias that every origin shows is corrected, one that flips sign from origin to origin is left alone. Only the
part of the bias beyond ``LEVEL_TOLERANCE`` (5% on the log scale) is corrected: the correction is for a gross
level error (a market that moved away from the model's history), not for the few percent by which the bias of
one quarter's weeks differs from the next one's. Measured (`make bench-forecast`, the backtest's 13 weeks
against the 13 origins before them): Rossmann's forecasts were 5.0% under on the calibration weeks and 1.2%
under on the scored ones, dunnhumby's 0.2% and 1.4% over; a full correction took Rossmann's WAPE from 0.0442
to 0.0481 and left dunnhumby's at 0.2698-0.2699. WAPE, which sums absolute errors, is least at the median
forecast, not at the unbiased one: a small bias costs it little. The rule is free of the measure's scale
(units or sales value alike). Cells without origins: sum(actual) /
sum(forecast), shrunk towards 1 when the cells' total is small. ``correct`` multiplies a forecast by it, and
the residual quantiles are those of the corrected forecasts, so ``apply`` takes corrected forecasts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

MIN_CELLS = 30
MIN_SCALE, MAX_SCALE = 0.8, 1.25
# Units of actual sales at which the scale gets half its weight (shrinkage towards 1 on tiny backtests).
SCALE_PRIOR_UNITS = 500.0
# The part of the origins' mean log ratio (after shrinkage) left uncorrected (see the module's docstring).
LEVEL_TOLERANCE = 0.05


def calibrate(cells: pd.DataFrame, lower: float = 0.1, upper: float = 0.9) -> dict[str, Any]:
    """Quantiles of the log residuals per horizon from backtest ``cells`` (forecast, actual, horizon)."""
    if not 0.0 < lower < 0.5 < upper < 1.0:
        raise ValueError(f"interval quantiles must satisfy 0 < lower < 0.5 < upper < 1, got {lower}, {upper}")
    actual = cells["actual"].to_numpy(dtype="float64")
    forecast = np.clip(cells["forecast"].to_numpy(dtype="float64"), 0.0, None)
    if "origin_week" in cells.columns:
        scale = origin_level_scale(actual, forecast, cells["origin_week"].to_numpy())
    else:
        scale = level_scale(actual, forecast)
    r = np.log1p(actual) - np.log1p(forecast * scale)
    horizons = cells["horizon"].to_numpy(dtype="int64")
    quantiles: dict[str, list[float]] = {}
    for h in sorted(set(horizons.tolist())):
        rh = r[horizons == h]
        if len(rh) >= MIN_CELLS:
            quantiles[str(h)] = [float(np.quantile(rh, lower)), float(np.quantile(rh, upper))]
    if not quantiles and len(r) >= MIN_CELLS:
        quantiles["1"] = [float(np.quantile(r, lower)), float(np.quantile(r, upper))]
    return {
        "method": "log1p_conformal",
        "lower": lower,
        "upper": upper,
        "scale": scale,
        "quantiles": quantiles,
    }


def level_scale(actual: np.ndarray, forecast: np.ndarray) -> float:
    """sum(actual) / sum(forecast), shrunk towards 1 on small totals and clipped (1.0 without cells)."""
    total_a, total_f = float(np.sum(actual)), float(np.sum(forecast))
    if total_f <= 0.0 or total_a <= 0.0:
        return 1.0
    weight = total_a / (total_a + SCALE_PRIOR_UNITS)
    raw = weight * (total_a / total_f) + (1.0 - weight)
    return float(np.clip(raw, MIN_SCALE, MAX_SCALE))


def origin_level_scale(actual: np.ndarray, forecast: np.ndarray, origins: np.ndarray) -> float:
    """exp of the origins' mean log(sum actual / sum forecast), shrunk by its standard error, less
    ``LEVEL_TOLERANCE`` towards 0, clipped."""
    frame = pd.DataFrame({"origin": origins, "actual": actual, "forecast": forecast})
    totals = frame.groupby("origin", sort=True)[["actual", "forecast"]].sum()
    totals = totals[(totals["actual"] > 0) & (totals["forecast"] > 0)]
    if len(totals) < 2:
        return level_scale(actual, forecast)
    ratios = np.log(totals["actual"].to_numpy() / totals["forecast"].to_numpy())
    mean, se = float(ratios.mean()), float(ratios.std(ddof=1) / np.sqrt(len(ratios)))
    weight = mean * mean / (mean * mean + se * se) if mean != 0.0 else 0.0
    shrunk = weight * mean
    beyond = np.sign(shrunk) * max(abs(shrunk) - LEVEL_TOLERANCE, 0.0)
    return float(np.clip(np.exp(beyond), MIN_SCALE, MAX_SCALE))


def correct(forecast: np.ndarray, calibration: Mapping[str, Any] | None) -> np.ndarray:
    """Point forecasts times the calibration's level ``scale`` (unchanged without one)."""
    f = np.clip(np.asarray(forecast, dtype="float64"), 0.0, None)
    return f * float((calibration or {}).get("scale", 1.0))


def apply(forecast: np.ndarray, horizon: np.ndarray, calibration: Mapping[str, Any]) -> tuple:
    """(p10, p90) for (level-corrected) forecasts at the given horizons; without calibration both equal it."""
    f = np.clip(np.asarray(forecast, dtype="float64"), 0.0, None)
    h = np.asarray(horizon, dtype="int64")
    table = {int(k): v for k, v in (calibration or {}).get("quantiles", {}).items()}
    if not table:
        return f.copy(), f.copy()
    known = np.array(sorted(table))
    # The largest calibrated horizon not above h (the smallest one if h is below them all).
    pick = np.clip(np.searchsorted(known, h, side="right") - 1, 0, len(known) - 1)
    q_lo = np.array([min(table[int(k)][0], 0.0) for k in known])[pick]
    q_hi = np.array([max(table[int(k)][1], 0.0) for k in known])[pick]
    base = np.log1p(f)
    p10 = np.clip(np.expm1(base + q_lo), 0.0, f)
    p90 = np.maximum(np.expm1(base + q_hi), f)
    return p10, p90


def coverage(actual: np.ndarray, p10: np.ndarray, p90: np.ndarray) -> float:
    """Share of actuals inside [p10, p90]."""
    a = np.asarray(actual, dtype="float64")
    return float(np.mean((a >= p10) & (a <= p90))) if len(a) else float("nan")


def calibrate_sources(cells: pd.DataFrame, lower: float = 0.1, upper: float = 0.9) -> dict[str, Any]:
    """The calibration of all ``cells`` with, under ``by_source``, each source's own (its measure, its level)."""
    calibration = calibrate(cells, lower, upper)
    if "source" in cells.columns and cells["source"].nunique() > 1:
        calibration["by_source"] = {
            str(source): calibrate(rows, lower, upper) for source, rows in cells.groupby("source", sort=True)
        }
    return calibration


def for_source(calibration: Mapping[str, Any] | None, source: str) -> Mapping[str, Any]:
    """The calibration of ``source`` (its own where the calibration has one, else the overall one)."""
    calibration = calibration or {}
    return calibration.get("by_source", {}).get(source, calibration)
