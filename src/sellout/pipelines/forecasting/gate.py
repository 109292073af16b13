"""The quality gate: publish the forecast only if the model beats the baselines and the last published model.

Fails when the model's backtest WAPE (all horizons, all categories, all cells) is worse than the best
baseline's by more than ``margin`` in any measure (units, sales value) the run forecasts, or worse than the
last published model's by more than ``last_published_margin`` (absolute WAPE points; the run's main measure,
the one with the most cells). The backtest it judges is the honest one (backtest.py): the known inputs of
each source as production has them. "Last published model" = the latest earlier run (by created_at) in ``forecast.model_runs`` whose
forecasts were committed (``published``, set in the forecasts' own transaction) and
gate passed; the current run id is left out so that a rerun does not compare with itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

ALL = "ALL"  # category / horizon 0 / segment rows of backtest_metrics aggregate over all of them
MODEL_RUN_COLUMNS = {
    "run_id": "str",
    "model_version": "str",
    "created_at": "str",
    "origin_week": "datetime64[ns]",
    "measure": "str",
    "model_wape": "float64",
    "model_bias": "float64",
    "best_baseline": "str",
    "best_baseline_wape": "float64",
    "wape_by_method": "str",
    "known_inputs": "str",
    "model_settings": "str",
    "gate_passed": "bool",
    "gate_reason": "str",
    "published": "bool",
}


def _overall_rows(backtest_metrics: pd.DataFrame) -> pd.DataFrame:
    m = backtest_metrics
    rows = m[(m["horizon"] == 0) & (m["category"] == ALL)]
    if "segment" in rows.columns:
        rows = rows[rows["segment"] == ALL]
    if "measure" not in rows.columns:
        rows = rows.assign(measure="units")
    if rows.empty:
        raise ValueError("backtest_metrics has no overall rows (horizon 0, category 'ALL')")
    return rows


def measures(backtest_metrics: pd.DataFrame) -> list[str]:
    """The measures of the run, the main one (the most cells) first."""
    rows = _overall_rows(backtest_metrics)
    if "n_cells" not in rows.columns:
        rows = rows.assign(n_cells=1)
    cells = rows.groupby("measure")["n_cells"].max().sort_values(ascending=False, kind="stable")
    return [str(m) for m in cells.index]


def overall_wape(backtest_metrics: pd.DataFrame, measure: str | None = None) -> pd.DataFrame:
    """The rows over all horizons, categories and cells, one per method, of ``measure`` (the main one)."""
    rows = _overall_rows(backtest_metrics)
    measure = measure or measures(backtest_metrics)[0]
    return rows[rows["measure"] == measure].set_index("method")


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
    reasons = []
    run_measures = measures(backtest_metrics)
    for measure in reversed(run_measures):  # the main measure's figures are the ones reported
        overall = overall_wape(backtest_metrics, measure)
        if model_method not in overall.index:
            raise ValueError(f"backtest_metrics has no overall row for the model ({model_method!r})")
        model_wape = float(overall.loc[model_method, "wape"])
        baselines = overall.drop(index=model_method)["wape"].dropna()
        if baselines.empty:
            raise ValueError("backtest_metrics has no baseline to compare the model with")
        best = str(baselines.idxmin())
        best_wape = float(baselines.min())
        of = f" ({measure})" if len(run_measures) > 1 else ""
        if not math.isfinite(model_wape):
            reasons.append(f"the model's backtest WAPE{of} is undefined (no actual sales in the backtest)")
        elif model_wape > best_wape + margin:
            reasons.append(
                f"model WAPE{of} {model_wape:.4f} is worse than {best} {best_wape:.4f} (margin {margin})"
            )
    previous = last_published(model_runs, run_id)
    previous_wape = float(previous["model_wape"]) if previous is not None else None

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
        "measure": run_measures[0],
    }


def model_run_row(
    status: Mapping[str, Any],
    backtest_metrics: pd.DataFrame,
    model_version: str,
    created_at: str,
    origin_week: pd.Timestamp,
    model_method: str,
    model_settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """This run's row of ``forecast.model_runs``: the gate's decision, the backtest's figures in the main
    measure, where each source's known inputs came from and the settings chosen for it."""
    overall = overall_wape(backtest_metrics)
    settings = {str(k): dict(v) for k, v in (model_settings or {}).items()}
    row = {
        "run_id": status["run_id"],
        "model_version": model_version,
        "created_at": created_at,
        "origin_week": pd.Timestamp(origin_week),
        "measure": measures(backtest_metrics)[0],
        "model_wape": status["model_wape"],
        "model_bias": float(overall.loc[model_method, "bias"]),
        "best_baseline": status["best_baseline"],
        "best_baseline_wape": status["best_baseline_wape"],
        "wape_by_method": json.dumps(
            {m: round(float(w), 6) for m, w in overall["wape"].items()}, sort_keys=True
        ),
        "known_inputs": known_inputs_text(settings),
        "model_settings": json.dumps(settings, sort_keys=True, default=str),
        "gate_passed": bool(status["passed"]),
        "gate_reason": status["reason"],
        "published": False,  # until the forecasts are committed (the forecasts dataset's mark)
    }
    return pd.DataFrame([row]).astype(MODEL_RUN_COLUMNS)


def known_inputs_text(model_settings: Mapping[str, Mapping[str, Any]]) -> str:
    """Where the known inputs came from: one value for every source, else ``source=value`` pairs."""
    values = {source: str(s.get("known_inputs", "")) for source, s in sorted(model_settings.items())}
    if len(set(values.values())) <= 1:
        return next(iter(values.values()), "")
    return ", ".join(f"{source}={value}" for source, value in values.items())
