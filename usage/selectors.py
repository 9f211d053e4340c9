"""Reads of usage: counters, daily history, active users, and usage across many
workspaces at once (set-based: one query per metric)."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from django.db.models import Count, Max, Q, Sum, Value
from django.db.models.functions import Least
from django.utils import timezone

from accounts.cache import TwoLevelCache
from accounts.models import Invitation, Membership, Project, Workspace
from usage.models import (
    ActivationRule,
    ActivePersonDay,
    Metric,
    ProductEvent,
    ProductEventDaily,
    UsageCounter,
    UsageDaily,
)


def counter_value(*, workspace_id: int, metric: str, now: datetime | None = None) -> int:
    """The workspace's counter of a metered metric in the current period (0 if none)."""
    latest = (
        UsageCounter.objects.select_related("metric")
        .filter(workspace_id=workspace_id, metric_id=metric)
        .order_by("-period_start")
        .first()
    )
    if latest is None or latest.period_start != latest.metric.period_start(now or timezone.now()):
        return 0
    return latest.value


def _counts(queryset, workspace_ids: list[int]) -> dict[int, int]:
    return dict(
        queryset.filter(workspace_id__in=workspace_ids)
        .values("workspace_id")
        .annotate(n=Count("id"))
        .values_list("workspace_id", "n")
    )


def usage_by_workspace(
    *, metric: str, workspace_ids: Iterable[int], now: datetime | None = None
) -> dict[int, int]:
    """What each workspace uses of ``metric`` now, for many workspaces in a query or two.
    Seats are members plus pending invitations, as in ``usage.current.usage_current``.
    Metered metrics read their counter in the current period (0 without one)."""
    ids = list(workspace_ids)
    usage = dict.fromkeys(ids, 0)
    if metric == "seats":
        pending = Invitation.objects.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now or timezone.now()
        )
        for counts in (_counts(Membership.objects.all(), ids), _counts(pending, ids)):
            for workspace_id, n in counts.items():
                usage[workspace_id] += n
    elif metric == "projects":
        usage.update(_counts(Project.objects.all(), ids))
    else:
        definition = Metric.objects.filter(key=metric).first()
        if definition is not None:
            usage.update(
                UsageCounter.objects.filter(
                    metric_id=metric,
                    workspace_id__in=ids,
                    period_start=definition.period_start(now or timezone.now()),
                ).values_list("workspace_id", "value")
            )
    return usage


def daily_history(
    *, workspace_id: int, metric: str, days: int = 30, today: date | None = None
) -> list[tuple[date, int]]:
    """The last ``days`` days of a metric, oldest first, with 0 for days without usage."""
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    values = dict(
        UsageDaily.objects.filter(
            workspace_id=workspace_id, metric_id=metric, day__gte=first, day__lte=today
        ).values_list("day", "value")
    )
    return [
        (first + timedelta(days=n), values.get(first + timedelta(days=n), 0)) for n in range(days)
    ]


@dataclass(frozen=True)
class ActiveUsers:
    daily: int
    monthly: int

    @property
    def stickiness_percent(self) -> int | None:
        """DAU / MAU as a percentage: the share of the month's people active today."""
        return round(100 * self.daily / self.monthly) if self.monthly else None


def active_users(*, workspace_id: int, now: datetime | None = None) -> ActiveUsers:
    """Distinct people seen in product events in the last 24 hours and the last 30 days."""
    now = now or timezone.now()
    events = ProductEvent.objects.filter(workspace_id=workspace_id).exclude(user_email="")

    def distinct_since(since: datetime) -> int:
        return events.filter(occurred_at__gt=since).values("user_email").distinct().count()

    return ActiveUsers(
        daily=distinct_since(now - timedelta(days=1)),
        monthly=distinct_since(now - timedelta(days=30)),
    )


@dataclass(frozen=True)
class Activation:
    kind: str
    value: str

    def matches_step(self, step: str) -> bool:
        return self.kind == ActivationRule.Kind.CHECKLIST_STEP and self.value == step

    def matches_event(self, name: str) -> bool:
        return self.kind == ActivationRule.Kind.PRODUCT_EVENT and self.value == name


_activation_cache = TwoLevelCache(prefix="usage:activation", local_ttl=0.5, shared_ttl=300)


def activation_rule() -> Activation:
    """What activates a workspace (cached; ``usage.signals`` drops it when edited)."""

    def build() -> Activation:
        rule = ActivationRule.objects.filter(pk=1).first()
        if rule is None:
            return Activation(ActivationRule.Kind.CHECKLIST_STEP, "first_usage_event")
        return Activation(rule.kind, rule.value)

    return _activation_cache.get_or_build(_activation_cache.key("rule"), build)


def activation_rule_changed() -> None:
    _activation_cache.delete(_activation_cache.key("rule"))


def activation_clear_local_cache() -> None:
    _activation_cache.clear_local()


_metrics_cache = TwoLevelCache(prefix="usage:metrics", local_ttl=5, shared_ttl=300)


def metric_definitions() -> dict[str, Metric]:
    """Every metric definition by key, metered or counted (they change rarely; cached)."""
    return _metrics_cache.get_or_build(
        _metrics_cache.key("all"), lambda: {m.key: m for m in Metric.objects.all()}
    )


# Every workspace in a primary-key range at once (PQL scoring) -----------------------------
#
# Each selector below reads the workspaces with a primary key in ``[pk_from, pk_to)`` that
# are not deleted, in a fixed number of queries whatever their number, and answers a dict
# keyed by workspace id. Days are UTC days; "the last 7 days" are today and the 6 before.

# Metrics counted from the product's own rows rather than reported (``usage.current``
# reads the same two through ``accounts.selectors``).
COUNTED_METRICS = ("seats", "projects")


def _live(pk_from: int, pk_to: int) -> Q:
    """Rows of the live workspaces of the range. The range is stated on both sides of the
    semi-join, so the database reads only the range of the workspace table too (a join on
    ``workspace__deleted_at`` read all of it for every chunk)."""
    live = Workspace.objects.filter(pk__gte=pk_from, pk__lt=pk_to, deleted_at__isnull=True)
    return Q(workspace_id__gte=pk_from, workspace_id__lt=pk_to, workspace_id__in=live.values("pk"))


def _grouped_counts(queryset) -> dict[int, int]:
    return dict(
        queryset.values("workspace_id").annotate(n=Count("id")).values_list("workspace_id", "n")
    )


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def usage_period_totals(*, pk_from: int, pk_to: int, now: datetime) -> dict[int, dict[str, int]]:
    """Each workspace's usage now of every metric: the numbers ``usage.current.usage_current``
    and the limit check read. Seats are members plus pending invitations, projects the
    workspace's projects, and metered metrics their counter in the period containing
    ``now`` (0 without one). Workspaces with no member, invitation, project or counter are
    absent. Four queries."""
    live = _live(pk_from, pk_to)
    seats = _grouped_counts(Membership.objects.filter(live))
    for workspace_id, n in _grouped_counts(
        Invitation.objects.filter(
            live, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        )
    ).items():
        seats[workspace_id] = seats.get(workspace_id, 0) + n
    projects = _grouped_counts(Project.objects.filter(live))
    metrics = metric_definitions()
    metered = [key for key in metrics if key not in COUNTED_METRICS]
    in_period = Q(pk__in=[])
    for key in metered:
        in_period |= Q(metric_id=key, period_start=metrics[key].period_start(now))
    counters = UsageCounter.objects.filter(live).filter(in_period)
    totals: dict[int, dict[str, int]] = {}
    for workspace_id in {*seats, *projects}:
        totals[workspace_id] = {"seats": seats.get(workspace_id, 0)} | {
            "projects": projects.get(workspace_id, 0)
        }
    for workspace_id, metric, value in counters.values_list("workspace_id", "metric_id", "value"):
        totals.setdefault(workspace_id, {"seats": 0, "projects": 0})[metric] = value
    for usage in totals.values():
        for key in metered:
            usage.setdefault(key, 0)
    return totals


def usage_weekly_totals(
    *, pk_from: int, pk_to: int, now: datetime
) -> dict[int, dict[str, tuple[int, int]]]:
    """Per workspace and metric, from the daily rollups: (the sum over the last 7 days, the
    sum over the 7 days before). Metrics without usage in those 14 days are absent. One
    query."""
    today = _today(now)
    week_start, previous_start = today - timedelta(days=6), today - timedelta(days=13)
    rows = (
        UsageDaily.objects.filter(_live(pk_from, pk_to), day__gte=previous_start, day__lte=today)
        .values("workspace_id", "metric_id")
        .annotate(
            this_week=Sum("value", filter=Q(day__gte=week_start), default=0),
            last_week=Sum("value", filter=Q(day__lt=week_start), default=0),
        )
        .order_by()
    )
    totals: dict[int, dict[str, tuple[int, int]]] = {}
    for row in rows:
        totals.setdefault(row["workspace_id"], {})[row["metric_id"]] = (
            row["this_week"],
            row["last_week"],
        )
    return totals


@dataclass(frozen=True)
class EventRollup:
    """A workspace's product events of one name over some days: how many (each day capped
    when a cap is given), the sum over the days of the distinct people that day, and on how
    many distinct days they happened."""

    events: int
    people_days: int
    days: int


def product_event_rollup(
    *,
    pk_from: int,
    pk_to: int,
    since: date,
    until: date,
    names: Collection[str] | None = None,
    daily_cap: int | None = None,
) -> dict[int, dict[str, EventRollup]]:
    """Per workspace and event name, the product events of the days ``since`` to ``until``
    (both included), from the daily rollup: only the ``names`` given (all without).
    With ``daily_cap``, a day counts at most that many events, so one noisy day (or user)
    cannot inflate the total. One query."""
    rows = ProductEventDaily.objects.filter(_live(pk_from, pk_to), day__gte=since, day__lte=until)
    if names is not None:
        rows = rows.filter(name__in=list(names))
    counted = Least("events", Value(daily_cap)) if daily_cap is not None else "events"
    result: dict[int, dict[str, EventRollup]] = {}
    for row in (
        rows.values("workspace_id", "name")
        .annotate(n=Sum(counted), people_days=Sum("people"), days=Count("day"))
        .order_by()
    ):
        result.setdefault(row["workspace_id"], {})[row["name"]] = EventRollup(
            events=row["n"], people_days=row["people_days"], days=row["days"]
        )
    return result


class ActivePeople(NamedTuple):
    """Distinct people who sent a product event (any name): in the last 7 days, in the 7
    days before those, and in the last 30 days."""

    week: int
    previous_week: int
    month: int


def active_people(*, pk_from: int, pk_to: int, now: datetime) -> dict[int, ActivePeople]:
    """Per workspace, the distinct people active this week, the week before and in the
    last 30 days (``ActivePeople``). Workspaces with nobody active in 30 days are absent.
    One query."""
    today = _today(now)
    week = today - timedelta(days=6)
    previous_week = Q(day__gte=today - timedelta(days=13), day__lt=week)
    rows = (
        ActivePersonDay.objects.filter(
            _live(pk_from, pk_to), day__gte=today - timedelta(days=29), day__lte=today
        )
        .values("workspace_id")
        .annotate(
            week=Count("person", distinct=True, filter=Q(day__gte=week)),
            previous_week=Count("person", distinct=True, filter=previous_week),
            month=Count("person", distinct=True),
        )
        .order_by()
    )
    return {
        row["workspace_id"]: ActivePeople(row["week"], row["previous_week"], row["month"])
        for row in rows
    }


def paywall_spread(
    *, pk_from: int, pk_to: int, now: datetime, days: int = 14
) -> dict[int, tuple[int, int]]:
    """Per workspace, (distinct people, distinct days) with a paywall hit in the last
    ``days`` days: the spread of the signal rather than its raw count. A hit without a
    person (an API call over a hard limit) counts its day but no person. Two queries."""
    today = _today(now)
    window = Q(name=ProductEvent.PAYWALL_HIT, day__gte=today - timedelta(days=days - 1))
    window &= Q(day__lte=today) & _live(pk_from, pk_to)
    people = dict(
        ActivePersonDay.objects.filter(window)
        .values("workspace_id")
        .annotate(n=Count("person", distinct=True))
        .values_list("workspace_id", "n")
        .order_by()
    )
    hit_days = dict(
        ProductEventDaily.objects.filter(window)
        .values("workspace_id")
        .annotate(n=Count("day"))
        .values_list("workspace_id", "n")
        .order_by()
    )
    return {workspace_id: (people.get(workspace_id, 0), n) for workspace_id, n in hit_days.items()}


def last_active_day(*, pk_from: int, pk_to: int, now: datetime) -> dict[int, date]:
    """Per workspace, the latest (UTC) day up to ``now``'s with usage or a product event,
    from the daily rollups, so the answer for a past ``now`` is what was known then (a
    backtest replays it). Workspaces with neither are absent. Two queries."""
    live = _live(pk_from, pk_to) & Q(day__lte=_today(now))
    latest: dict[int, date] = {}
    for model in (UsageDaily, ProductEventDaily):
        for workspace_id, day in (
            model.objects.filter(live)
            .values("workspace_id")
            .annotate(day=Max("day"))
            .values_list("workspace_id", "day")
            .order_by()
        ):
            if workspace_id not in latest or day > latest[workspace_id]:
                latest[workspace_id] = day
    return latest


def workspace_paywall_hits(
    *, workspace_id: int, days: int = 30, now: datetime | None = None, limit: int = 20
) -> list[ProductEvent]:
    """The workspace's latest paywall hits of the last ``days`` days, newest first."""
    since = (now or timezone.now()) - timedelta(days=days)
    return list(
        ProductEvent.objects.filter(
            workspace_id=workspace_id, name=ProductEvent.PAYWALL_HIT, occurred_at__gte=since
        ).order_by("-occurred_at", "-id")[:limit]
    )
