"""Backtesting a scoring model: replay it over past days and compare with what happened next.

At each past day D (as of 00:00 UTC), every workspace that existed then is scored with the
model as it would have been (the selectors answer as of any ``now``), and labelled
*converted* when its MRR rose in the horizon after D (free to paid, an expansion or a
reactivation, from billing's revenue ledger). For each engagement threshold (0 to 100 in
steps of 10, with the model's fit minimum), the workspace-days it flags are compared with
those that converted: precision, recall, lift over the base rate, and the conversion rate
above versus below the threshold; beside a naive baseline that flags every workspace using
80% or more of any limit at D (``usage.current.limit_is_near``).

``backtest_evaluate`` is the pure computation; ``backtest_observe`` reads the observations
a pk-range chunk at a time with the scoring job's own set-based reads.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

from accounts import selectors as accounts_selectors
from billing import selectors as billing_selectors
from pql.jobs import workspace_signals
from pql.models import ScoringModel
from pql.scoring import SEATS_METRIC, score
from usage.current import limit_is_near

THRESHOLDS = tuple(range(0, 101, 10))
CHUNK_SIZE = 5000


@dataclass(frozen=True)
class Observation:
    """One workspace on one past day: its scores then, whether it was near a limit then,
    and whether its MRR rose in the horizon after."""

    workspace_id: int
    day: date
    fit: int
    engagement: int
    near_limit: bool
    converted: bool


@dataclass(frozen=True)
class Row:
    """A rule's confusion counts and the rates derived from them (None: nothing to divide
    by)."""

    label: str
    flagged: int
    flagged_converted: int
    unflagged: int
    unflagged_converted: int
    converted: int
    total: int

    @property
    def precision(self) -> Fraction | None:
        """The conversion rate of what the rule flags (= the rate above the threshold)."""
        return Fraction(self.flagged_converted, self.flagged) if self.flagged else None

    @property
    def recall(self) -> Fraction | None:
        return Fraction(self.flagged_converted, self.converted) if self.converted else None

    @property
    def rate_below(self) -> Fraction | None:
        return Fraction(self.unflagged_converted, self.unflagged) if self.unflagged else None

    @property
    def lift(self) -> Fraction | None:
        """Precision over the base rate: how much likelier a flagged workspace converts."""
        if self.precision is None or not self.converted:
            return None
        return self.precision / Fraction(self.converted, self.total)


@dataclass(frozen=True)
class Backtest:
    rows: tuple[Row, ...]
    baseline: Row
    total: int
    converted: int

    @property
    def base_rate(self) -> Fraction | None:
        return Fraction(self.converted, self.total) if self.total else None


def _row(label: str, flags: Sequence[tuple[bool, bool]]) -> Row:
    flagged = sum(1 for flag, _ in flags if flag)
    flagged_converted = sum(1 for flag, converted in flags if flag and converted)
    converted = sum(1 for _, c in flags if c)
    return Row(
        label=label,
        flagged=flagged,
        flagged_converted=flagged_converted,
        unflagged=len(flags) - flagged,
        unflagged_converted=converted - flagged_converted,
        converted=converted,
        total=len(flags),
    )


def backtest_evaluate(
    observations: Iterable[Observation],
    *,
    fit_min: int | None,
    thresholds: Sequence[int] = THRESHOLDS,
) -> Backtest:
    """Each threshold's row (flagged: engagement at or above it, and fit at or above
    ``fit_min`` when the model sets one) and the naive baseline's row."""
    observations = list(observations)
    fits = [fit_min is None or o.fit >= fit_min for o in observations]
    rows = tuple(
        _row(
            f"engagement ≥ {threshold}",
            [
                (fit and o.engagement >= threshold, o.converted)
                for o, fit in zip(observations, fits, strict=True)
            ],
        )
        for threshold in thresholds
    )
    baseline = _row("used ≥ 80% of a limit", [(o.near_limit, o.converted) for o in observations])
    return Backtest(
        rows=rows,
        baseline=baseline,
        total=len(observations),
        converted=sum(1 for o in observations if o.converted),
    )


def backtest_days(*, start: date, end: date, step_days: int) -> list[date]:
    """The days replayed: ``start``, every ``step_days`` after, up to ``end`` included."""
    if step_days < 1:
        raise ValueError("step_days must be at least 1")
    days = []
    day = start
    while day <= end:
        days.append(day)
        day += timedelta(days=step_days)
    return days


def backtest_observe(
    *, model: ScoringModel, days: Sequence[date], horizon_days: int, chunk_size: int = CHUNK_SIZE
) -> list[Observation]:
    """Every workspace that existed on each of ``days``, scored with ``model`` as of that
    day and labelled with what followed in ``horizon_days`` days. A fixed number of queries
    per chunk of workspaces and day."""
    config = model.config()
    observations = []
    for pk_from, pk_to in accounts_selectors.workspace_pk_ranges(size=chunk_size):
        for day in days:
            now = datetime.combine(day, time(0), tzinfo=UTC)
            inputs = workspace_signals(
                pk_from=pk_from,
                pk_to=pk_to,
                now=now,
                daily_cap=model.daily_activity_cap,
                replay=True,
            )
            rises = billing_selectors.mrr_increases(
                pk_from=pk_from, pk_to=pk_to, since=now, until=now + timedelta(days=horizon_days)
            )
            for workspace_id, signals in inputs.signals.items():
                result = score(signals, config)
                near = limit_is_near(signals.seats_used, signals.seats_allowed) or any(
                    limit_is_near(signals.usage.get(key, 0), limit)
                    for key, limit in signals.limits.items()
                    if key != SEATS_METRIC
                )
                observations.append(
                    Observation(
                        workspace_id=workspace_id,
                        day=day,
                        fit=result.fit,
                        engagement=result.engagement,
                        near_limit=near,
                        converted=workspace_id in rises,
                    )
                )
    return observations


def backtest_run(
    *, model: ScoringModel, start: date, end: date, step_days: int, horizon_days: int
) -> Backtest:
    """Replay ``model`` on the days from ``start`` to ``end``, every ``step_days``."""
    days = backtest_days(start=start, end=end, step_days=step_days)
    observations = backtest_observe(model=model, days=days, horizon_days=horizon_days)
    return backtest_evaluate(observations, fit_min=model.fit_min)


def percent(value: Fraction | None) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def times(value: Fraction | None) -> str:
    return "—" if value is None else f"{float(value):.2f}x"
