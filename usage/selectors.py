"""Reads of usage: counters, daily history, active users, and usage across many
workspaces at once (set-based: one query per metric)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from accounts.cache import TwoLevelCache
from accounts.models import Invitation, Membership, Project
from usage.models import ActivationRule, Metric, ProductEvent, UsageCounter, UsageDaily


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
