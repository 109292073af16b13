"""When the model is fitted in full and when it is only refreshed (``forecasting.refit``).

A full fit of the global model is ~300 boosting rounds over every training cell; in between, a week's new data
is taken in by ``refresh_rounds`` rounds fitted on top of the last full model's scores (TrainingSet.fit with a
base). The model is fitted in full again once it is ``full_every_weeks`` old, or when the history it was
fitted on changed (a corrected or late delivery). The backtest replays the same schedule origin by origin, so
its metrics are those of the forecasts production publishes.

Measured with `make bench-forecast` (whole dunnhumby set, 13 scored origins, level scaling on): a full fit at
every origin, WAPE 0.2697 at 12.4-13.0 s per origin; a full fit every 5 weeks with 40 refresh rounds, WAPE 0.2690
at 4.95 s per origin (full fits ~13 s, refreshes ~2.5 s); every 6 weeks with 60 rounds, 0.2702 at 4.77 s.
A refresh of a base fitted by the same training set reuses its bins and its training scores, so it costs only
its own rounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RefitSchedule:
    full_every_weeks: int = 1
    refresh_rounds: int = 0

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> RefitSchedule:
        p = dict(params or {})
        unknown = sorted(set(p) - {"full_every_weeks", "refresh_rounds"})
        if unknown:
            raise ValueError(
                f"forecasting.refit has unknown keys {unknown}; allowed: full_every_weeks, refresh_rounds"
            )
        schedule = cls(int(p.get("full_every_weeks", 1)), int(p.get("refresh_rounds", 0)))
        if schedule.full_every_weeks < 1 or schedule.refresh_rounds < 0:
            raise ValueError(
                "forecasting.refit.full_every_weeks must be >= 1 and refresh_rounds >= 0, got "
                f"{schedule.full_every_weeks!r} and {schedule.refresh_rounds!r}"
            )
        return schedule

    def refreshes(self, weeks_since_full_fit: int) -> bool:
        """True if a model fully fitted ``weeks_since_full_fit`` weeks ago is refreshed rather than refitted."""
        return self.refresh_rounds > 0 and 0 < weeks_since_full_fit < self.full_every_weeks
