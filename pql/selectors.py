"""Reads of the pql app: scores with how they moved, and their history."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from pql.models import Score, ScoreSnapshot

TREND_DAYS = 7


def scores_with_trend(queryset: QuerySet[Score] | None = None, *, days: int = TREND_DAYS):
    """Scores annotated with the engagement and fit of their snapshot ``days`` before the day
    they were computed (``engagement_before`` / ``fit_before``; None without one), in the
    same query: "+18 since last week"."""
    queryset = Score.objects.all() if queryset is None else queryset
    before = ScoreSnapshot.objects.filter(
        workspace_id=OuterRef("workspace_id"),
        day__lte=OuterRef("computed_at") - timedelta(days=days),
    ).order_by("-day")
    return queryset.annotate(
        engagement_before=Subquery(before.values("engagement")[:1]),
        fit_before=Subquery(before.values("fit")[:1]),
    )


def trend_words(now: int, before: int | None, *, days: int = TREND_DAYS) -> str:
    """How a score moved, for people: "+18 since last week", "no change since last week",
    or "new" when there was no score then."""
    since = "since last week" if days == TREND_DAYS else f"in {days} days"
    if before is None:
        return "new"
    change = now - before
    if change == 0:
        return f"no change {since}"
    return f"{change:+d} {since}"


@dataclass(frozen=True)
class HistoryPoint:
    day: date
    fit: int
    engagement: int
    is_pql: bool


def score_history(
    *, workspace_id: int, days: int = 90, now: datetime | None = None
) -> list[HistoryPoint]:
    """The workspace's daily (older: weekly) snapshots of the last ``days`` days, oldest first."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return [
        HistoryPoint(
            day=row["day"], fit=row["fit"], engagement=row["engagement"], is_pql=row["is_pql"]
        )
        for row in ScoreSnapshot.objects.filter(
            workspace_id=workspace_id, day__gt=today - timedelta(days=days), day__lte=today
        )
        .order_by("day")
        .values("day", "fit", "engagement", "is_pql")
    ]


def top_reasons(score: Score, *, count: int = 3) -> list[str]:
    """The explanation of a score in words: its components that earned the most points."""
    earning = [c for c in score.components if c.get("points", 0) > 0]
    earning.sort(key=lambda c: (-c["points"], c["signal"]))
    return [c["text"] for c in earning[:count]]
