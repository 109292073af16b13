"""Charts of a run for kedro-viz (plotly figures) and its static HTML report.

* ``forecast_chart``: actual weekly units (all series summed) over the last year, the backtest's forecasts
  at horizon 1 of every method, and the new forecast with its P10-P90 band;
* ``backtest_chart``: WAPE per horizon and method, and the metrics table (all horizons, per category);
* the report: both figures, the quality gate's decision and the model version in one HTML page per run, named
  by ``sellout.config.run.run_file_name`` (safe on an SMB share), with plotly.js in one file beside the reports (``plotly_script``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sellout.canonical import UNITS, WEEK

from .gate import ALL

HISTORY_WEEKS = 52
# plotly.js of the installed plotly, one file per version so that an older report keeps its own.
PLOTLY_SCRIPT = f"plotly-{plotly.__version__}.min"


def plotly_script() -> dict[str, str]:
    """The report folder's plotly.js: ``{PLOTLY_SCRIPT: source}``."""
    from plotly.offline import get_plotlyjs  # noqa: PLC0415 - plotly.offline imports IPython: 0.5 s at start-up

    return {PLOTLY_SCRIPT: get_plotlyjs()}


def forecast_chart(
    model_panel: pd.DataFrame, backtest_cells: pd.DataFrame, forecasts: pd.DataFrame
) -> go.Figure:
    fig = go.Figure()
    if not model_panel.empty:
        actual = model_panel.groupby(WEEK, sort=True)[UNITS].sum().tail(HISTORY_WEEKS)
        fig.add_trace(go.Scatter(x=actual.index, y=actual.to_numpy(), name="actual", line={"color": "black"}))
    one_step = backtest_cells[backtest_cells["horizon"] == 1]
    for method, cells in one_step.groupby("method", sort=True):
        series = cells.groupby("target_week", sort=True)["forecast"].sum()
        fig.add_trace(
            go.Scatter(
                x=series.index, y=series.to_numpy(), name=f"backtest {method} (h=1)", mode="lines+markers"
            )
        )
    if not forecasts.empty:
        total = forecasts.groupby("target_week", sort=True)[
            ["forecast_units", "forecast_p10", "forecast_p90"]
        ].sum()
        weeks = list(total.index)
        fig.add_trace(
            go.Scatter(
                x=weeks + weeks[::-1],
                y=list(total["forecast_p90"]) + list(total["forecast_p10"])[::-1],
                fill="toself",
                fillcolor="rgba(31,119,180,0.2)",
                line={"width": 0},
                name="P10-P90 (sum of series bounds)",
            )
        )
        fig.add_trace(
            go.Scatter(x=weeks, y=total["forecast_units"].to_numpy(), name="forecast", line={"width": 3})
        )
    fig.update_layout(title="Weekly units, all series: actual, backtest and forecast", yaxis_title="units")
    return fig


def backtest_chart(backtest_metrics: pd.DataFrame) -> go.Figure:
    fig = make_subplots(
        rows=2,
        cols=1,
        row_heights=[0.55, 0.45],
        vertical_spacing=0.12,
        specs=[[{"type": "xy"}], [{"type": "table"}]],
        subplot_titles=("WAPE by horizon (all categories)", "Backtest metrics, all horizons"),
    )
    if "segment" in backtest_metrics.columns:
        by_segment = backtest_metrics[backtest_metrics["segment"] != ALL].assign(
            category=lambda m: m["category"] + " / " + m["segment"]
        )
        backtest_metrics = pd.concat(
            [backtest_metrics[backtest_metrics["segment"] == ALL], by_segment], ignore_index=True
        )
    by_horizon = backtest_metrics[(backtest_metrics["category"] == ALL) & (backtest_metrics["horizon"] > 0)]
    for method, rows in by_horizon.groupby("method", sort=True):
        ordered = rows.sort_values("horizon")
        fig.add_trace(go.Bar(x=ordered["horizon"], y=ordered["wape"], name=method), row=1, col=1)
    table = backtest_metrics[backtest_metrics["horizon"] == 0].sort_values(["category", "wape"])
    fig.add_trace(
        go.Table(
            header={"values": ["category", "method", "WAPE", "bias", "MASE", "cells"]},
            cells={
                "values": [
                    table["category"],
                    table["method"],
                    table["wape"].round(4),
                    table["bias"].round(4),
                    table["mase"].round(3),
                    table["n_cells"],
                ]
            },
        ),
        row=2,
        col=1,
    )
    fig.update_layout(barmode="group", height=800, title="Rolling-origin backtest")
    fig.update_xaxes(title_text="horizon (weeks)", row=1, col=1)
    return fig


def html_report(
    figures: list[go.Figure],
    quality_gate_status: Mapping[str, Any],
    run_context: Mapping[str, Any],
    model_version: str,
    model_settings: Mapping[str, Mapping[str, Any]] | None = None,
    panel_status: Mapping[str, Any] | None = None,
) -> str:
    """One HTML page; plotly.js is not inlined (4.5 MB per report) but read from ``PLOTLY_SCRIPT`` beside it, which
    the report node writes into the same folder, so the page opens offline."""
    gate = quality_gate_status
    verdict = "PASSED: published" if gate["passed"] else "FAILED: not published"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>sellout forecast report {_escape(run_context['run_id'])}</title></head><body>",
        f"<h1>Forecast run {_escape(run_context['run_id'])}</h1>",
        f"<p>Model {_escape(model_version)}; environment {_escape(str(run_context.get('env')))}; started "
        f"{_escape(str(run_context.get('started_at')))}.</p>",
        f"<h2>Quality gate: {verdict}</h2><p>{_escape(gate['reason'])}</p>",
        sources_table(model_settings or {}, panel_status or {}),
    ]
    for i, fig in enumerate(figures):
        parts.append(
            fig.to_html(full_html=False, include_plotlyjs=f"{PLOTLY_SCRIPT}.js" if i == 0 else False)
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def sources_table(model_settings: Mapping[str, Mapping[str, Any]], panel_status: Mapping[str, Any]) -> str:
    """Per source: its measure, outage weeks, where the forecast weeks' known inputs came from (the backtest
    used the same), and the settings chosen for its model with their validation WAPE."""
    panel_sources = panel_status.get("sources", {})
    names = sorted(set(model_settings) | set(panel_sources))
    if not names:
        return ""
    header = (
        "<tr><th>source</th><th>measure</th><th>series</th><th>outage weeks</th><th>incomplete weeks</th>"
        "<th>known inputs</th><th>settings</th><th>validation WAPE</th><th>why</th></tr>"
    )
    rows = []
    for name in names:
        settings, panel = model_settings.get(name, {}), panel_sources.get(name, {})
        validation = ", ".join(f"{k} {v}" for k, v in settings.get("validation_wape", {}).items())
        cells = [
            name,
            panel.get("measure", ""),
            panel.get("series", ""),
            panel.get("outage_weeks", ""),
            panel.get("incomplete_weeks", ""),
            settings.get("known_inputs", ""),
            settings.get("candidate", ""),
            validation,
            settings.get("reason", ""),
        ]
        rows.append("<tr>" + "".join(f"<td>{_escape(str(c))}</td>" for c in cells) + "</tr>")
    return (
        "<h2>Sources</h2><table border='1' cellspacing='0' cellpadding='3'>"
        + header
        + "".join(rows)
        + "</table>"
    )


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
