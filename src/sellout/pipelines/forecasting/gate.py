"""The quality gate: publish the forecast only if the model beats the baselines and the last published model.

Fails when the model's backtest WAPE (all horizons, all categories) is worse than the best baseline's by more
than ``margin``, or worse than the last published model's by more than ``last_published_margin`` (absolute
WAPE points). "Last published model" = the latest earlier run (by created_at) in ``forecast.model_runs`` whose
forecasts were committed (``published``, set in the forecasts' own transaction) and
gate passed; the current run id is left out so that a rerun does not compare with itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

ALL = "ALL"  # category / horizon 0 rows of backtest_metrics aggregate over all categories / horizons
MODEL_RUN_COLUMNS = {
    "run_id": "str",
    "model_version": "str",
    "created_at": "str",
    "origin_week": "datetime64[ns]",
    "model_wape": "float64",
    "model_bias": "float64",
    "best_baseline": "str",
    "best_baseline_wape": "float64",
    "wape_by_method": "str",
    "gate_passed": "bool",
    "gate_reason": "str",
    "published": "bool",
}


def overall_wape(backtest_metrics: pd.DataFrame) -> pd.DataFrame:
    """The rows over all horizons and categories, one per method."""
    rows = backtest_metrics[(backtest_metrics["horizon"] == 0) & (backtest_metrics["category"] == ALL)]
    if rows.empty:
        raise ValueError("backtest_metrics has no overall rows (horizon 0, category 'ALL')")
    return rows.set_index("method")


def last_published(model_runs: pd.DataFrame | None, run_id: str) -> Mapping[str, Any] | None:
    """The latest earlier run whose gate passed and whose forecasts were committed (published), or None."""
    if model_runs is None or model_runs.empty:
        return None
    published = model_runs["published"].fillna(False).astype(bool) if "published" in model_runs else True
    passed = model_runs[model_runs["gate_passed"].astype(bool) & published & (model_runs["run_id"] != run_id)]
    if passed.empty:
        return None
    return passed.sort_values(["created_at", "run_id"]).iloc[-1].to_dict()


def evaluate(
    backtest_metrics: pd.DataFrame,
    model_runs: pd.DataFrame | None,
    run_id: str,
    model_method: str,
    margin: float,
    last_published_margin: float,
) -> dict[str, Any]:
    """The gate decision (the ``quality_gate_status`` contract)."""
    overall = overall_wape(backtest_metrics)
    if model_method not in overall.index:
        raise ValueError(f"backtest_metrics has no overall row for the model ({model_method!r})")
    model_wape = float(overall.loc[model_method, "wape"])
    baselines = overall.drop(index=model_method)["wape"].dropna()
    if baselines.empty:
        raise ValueError("backtest_metrics has no baseline to compare the model with")
    best = str(baselines.idxmin())
    best_wape = float(baselines.min())
    previous = last_published(model_runs, run_id)
    previous_wape = float(previous["model_wape"]) if previous is not None else None

    reasons = []
    if not math.isfinite(model_wape):
        reasons.append("the model's backtest WAPE is undefined (no actual units in the backtest)")
    elif model_wape > best_wape + margin:
        reasons.append(f"model WAPE {model_wape:.4f} is worse than {best} {best_wape:.4f} (margin {margin})")
    if (
        previous_wape is not None
        and math.isfinite(model_wape)
        and model_wape > previous_wape + last_published_margin
    ):
        reasons.append(
            f"model WAPE {model_wape:.4f} is worse than the last published model's {previous_wape:.4f} "
            f"(run {previous['run_id']}, margin {last_published_margin})"
        )
    passed = not reasons
    if passed:
        reasons.append(
            f"model WAPE {model_wape:.4f} beats {best} {best_wape:.4f}"
            + (
                f" and is within {last_published_margin} of the last published {previous_wape:.4f}"
                if previous
                else ""
            )
        )
    return {
        "run_id": str(run_id),
        "passed": passed,
        "reason": "; ".join(reasons),
        "model_wape": model_wape,
        "best_baseline": best,
        "best_baseline_wape": best_wape,
        "last_published_wape": previous_wape,
        "margin": float(margin),
    }


def model_run_row(
    status: Mapping[str, Any],
    backtest_metrics: pd.DataFrame,
    model_version: str,
    created_at: str,
    origin_week: pd.Timestamp,
    model_method: str,
) -> pd.DataFrame:
    """This run's row of ``forecast.model_runs``."""
    overall = overall_wape(backtest_metrics)
    row = {
        "run_id": status["run_id"],
        "model_version": model_version,
        "created_at": created_at,
        "origin_week": pd.Timestamp(origin_week),
        "model_wape": status["model_wape"],
        "model_bias": float(overall.loc[model_method, "bias"]),
        "best_baseline": status["best_baseline"],
        "best_baseline_wape": status["best_baseline_wape"],
        "wape_by_method": json.dumps(
            {m: round(float(w), 6) for m, w in overall["wape"].items()}, sort_keys=True
        ),
        "gate_passed": bool(status["passed"]),
        "gate_reason": status["reason"],
        "published": False,  # until the forecasts are committed (the forecasts dataset's mark)
    }
    return pd.DataFrame([row]).astype(MODEL_RUN_COLUMNS)
