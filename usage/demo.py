"""Demo usage for ``manage.py seed_demo``: 30 days of API calls and storage for every
activated demo workspace (``Workspace.is_demo``, set by seed_demo only), and product events
by their members (for active-people counts). Workspaces people signed up for never get any.

The events go into the same tables as real ones, and the counters and daily rollups are
computed from exactly those events, so every invariant of real usage holds for demo data
too. Idempotent: events carry fixed idempotency keys, and a workspace that already has
demo usage for today is left alone.
"""

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q

from accounts.models import Membership, Workspace
from usage.models import Metric, ProductEvent, UsageCounter, UsageDaily, UsageEvent
from usage.rollups import product_event_rollups_rebuild

DAYS = 30
PRODUCT_EVENT_NAMES = ("report_exported", "dashboard_viewed", "project_opened", "query_run")


def _daily_api_calls(rng: random.Random, limit: int | None, members: int) -> int:
    """A day of API calls: free workspaces land between a fifth of their monthly limit and
    all of it over a month (some near the paywall); paid ones scale with the team."""
    if limit:
        return max(1, round(limit * rng.uniform(0.2, 1.0) / DAYS))
    return max(1, round(rng.lognormvariate(6, 0.8) * members))


def _plan_events(
    rng: random.Random, workspace_id: int, since: datetime, now: datetime, api_limit: int | None
) -> list[UsageEvent]:
    members = Membership.objects.filter(workspace_id=workspace_id).count()
    per_day = _daily_api_calls(rng, api_limit, members)
    storage = rng.randint(20, 200)
    events = []
    first = max(since, now - timedelta(days=DAYS - 1)).date()
    for offset in range((now.date() - first).days + 1):
        noon = datetime.combine(first + timedelta(days=offset), time(12), tzinfo=UTC)
        stamp = min(noon, now - timedelta(minutes=1))
        calls = max(0, round(per_day * rng.uniform(0.5, 1.5)))
        storage += rng.randint(0, 15)
        for metric, quantity in (("api_calls", calls), ("storage_mb", storage)):
            events.append(
                UsageEvent(
                    workspace_id=workspace_id,
                    metric_id=metric,
                    quantity=quantity,
                    idempotency_key=f"demo-{metric}-{stamp:%Y-%m-%d}",
                    occurred_at=stamp,
                    received_at=stamp,
                )
            )
    return events


def _rollups(events: list[UsageEvent], metrics: dict[str, Metric], now: datetime):
    """Counters (current periods) and daily rollups computed from the events."""
    counters: dict[tuple[int, str, datetime], list[UsageEvent]] = defaultdict(list)
    days: dict[tuple[int, str, date], list[UsageEvent]] = defaultdict(list)
    for event in events:
        metric = metrics[event.metric_id]
        period = metric.period_start(event.occurred_at)
        if period == metric.period_start(now):
            counters[(event.workspace_id, event.metric_id, period)].append(event)
        days[(event.workspace_id, event.metric_id, event.occurred_at.date())].append(event)

    def value(metric: Metric, group: list[UsageEvent]) -> int:
        if metric.is_additive:
            return sum(e.quantity for e in group)
        return max(group, key=lambda e: e.occurred_at).quantity  # storage is a last value

    return (
        [
            UsageCounter(
                workspace_id=ws,
                metric_id=key,
                period_start=period,
                value=value(metrics[key], group),
                last_event_at=max(e.occurred_at for e in group),
            )
            for (ws, key, period), group in counters.items()
        ],
        [
            UsageDaily(
                workspace_id=ws,
                metric_id=key,
                day=day,
                value=value(metrics[key], group),
                events=len(group),
            )
            for (ws, key, day), group in days.items()
        ],
    )


def _product_events(rng: random.Random, workspace_id: int, now: datetime) -> list[ProductEvent]:
    emails = list(
        Membership.objects.filter(workspace_id=workspace_id).values_list("user__email", flat=True)
    )
    events = []
    for days_ago in range(DAYS):
        for email in emails:
            if rng.random() < 0.35:
                at = now - timedelta(days=days_ago, hours=rng.uniform(0, 20))
                events.append(
                    ProductEvent(
                        workspace_id=workspace_id,
                        name=rng.choice(PRODUCT_EVENT_NAMES),
                        user_email=email,
                        occurred_at=at,
                        idempotency_key=f"demo-{email}-{days_ago}",
                    )
                )
    return events


def seed_usage(
    *,
    rng: random.Random,
    now: datetime,
    api_calls_limit: Callable[[int], int | None],
    also: list[int] = (),
) -> int:
    """Demo usage for activated demo workspaces (and the demo workspaces in ``also``, even
    if not activated) that have none for today, shaped by each one's API-call limit
    (``api_calls_limit(workspace_id)``, billing's fact, None for unlimited). Returns how
    many workspaces got usage."""
    today_key = f"demo-api_calls-{now:%Y-%m-%d}"
    done = set(
        UsageEvent.objects.filter(idempotency_key=today_key).values_list("workspace_id", flat=True)
    )
    workspaces = [
        (pk, activated_at)
        for pk, activated_at, created_at in Workspace.objects.filter(
            Q(activated_at__isnull=False) | Q(pk__in=also),
            is_demo=True,
            deleted_at__isnull=True,
        )
        .order_by("pk")
        .values_list("pk", "activated_at", "created_at")
        if pk not in done
        for activated_at in [activated_at or created_at]
    ]
    if not workspaces:
        return 0
    metrics = {m.key: m for m in Metric.objects.all()}
    events: list[UsageEvent] = []
    product_events: list[ProductEvent] = []
    for workspace_id, since in workspaces:
        events += _plan_events(rng, workspace_id, since, now, api_calls_limit(workspace_id))
        product_events += _product_events(rng, workspace_id, now)
    UsageEvent.objects.bulk_create(events, batch_size=2000, ignore_conflicts=True)
    ProductEvent.objects.bulk_create(product_events, batch_size=2000, ignore_conflicts=True)
    ids = [pk for pk, _ in workspaces]
    # Bulk-loaded events bypass the services: recompute their rollups.
    product_event_rollups_rebuild(pk_from=min(ids), pk_to=max(ids) + 1)
    stored = list(UsageEvent.objects.filter(workspace_id__in=ids))
    counters, days = _rollups(stored, metrics, now)
    UsageCounter.objects.bulk_create(
        counters,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["workspace", "metric", "period_start"],
        update_fields=["value", "last_event_at"],
    )
    UsageDaily.objects.bulk_create(
        days,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["workspace", "metric", "day"],
        update_fields=["value", "events"],
    )
    return len(workspaces)
