"""Demo usage for ``manage.py seed_demo``: a year of daily history for the demo workspaces
(``Workspace.is_demo``, set by seed_demo only), shaped by each one's segment and story
(``accounts.demo.PlannedWorkspace``): API calls and storage per day, and product events by
their members (active people, invitations, paywall hits).

* **Dormant** workspaces are used for a few days after sign-up, then hardly ever.
* **Steady** ones are used now and then by one or two people, well within the free limits.
* **Solo heavy** ones: one person calling the API up to the free limit every month and
  hitting the paywall alone, with no team. They look like a lead to a "used 80% of a limit"
  rule, and never buy.
* **Growing** ones: more people active week after week and API calls rising toward the free
  limit; in the weeks before they upgrade several people hit paywalls on several days. After
  the upgrade they keep growing on the paid plan; after a cancellation their use fades. The
  ones whose upgrade has not happened yet are near their limits now.

Free plans' API calls are capped at their monthly limit, as ingestion's hard limit caps
them: what would exceed it is a paywall hit instead. The events go into the same tables as
real ones (one event per workspace, metric and day), and the counters, daily rollups and
product-event rollups are computed from exactly those events, so every invariant of real
usage holds for demo data too. Deterministic from the seeded generator, dates relative to
``now``. Idempotent: only workspaces without usage get any.
"""

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from accounts.demo import PlannedWorkspace, Segment
from accounts.models import Invitation, Membership, Workspace
from usage.models import Metric, ProductEvent, UsageCounter, UsageDaily, UsageEvent
from usage.rollups import product_event_rollups_rebuild

DAYS = 365
PRODUCT_EVENT_NAMES = ("report_exported", "dashboard_viewed", "project_opened", "query_run")
PAYWALL_METRICS = ("api_calls", "seats", "projects")
_UNLIMITED_DAILY = 3_000  # API calls a day of a person on a plan without an API-call limit


@dataclass(frozen=True)
class _Workspace:
    """What shapes one workspace's history."""

    pk: int
    segment: str
    start: datetime  # first use: activation, or sign-up
    members: list[tuple[str, datetime]]  # (e-mail, joined at), the owner first
    has_api: bool
    upgraded_at: datetime | None  # the first purchase, or when a growing one will buy
    ended_at: datetime | None  # a cancellation took effect (and no return since)
    plan_on: Callable[[datetime], str]


def _day_stamp(day: date, now: datetime, hour: float) -> datetime:
    at = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(hours=hour)
    return min(at, now - timedelta(minutes=1))


def _engagement(ws: _Workspace, rng: random.Random, at: datetime) -> tuple[float, float]:
    """(share of the free API-call limit used a day times 30, chance each member is active)."""
    age = (at - ws.start).days
    if ws.segment == Segment.DORMANT:
        trial = 3 + ws.pk % 9
        return (0.2, 0.7) if age <= trial else ((0.05, 0.3) if rng.random() < 0.01 else (0, 0))
    if ws.segment == Segment.STEADY:
        weekday = at.weekday() < 5
        return (rng.uniform(0.15, 0.35), 0.45 if weekday else 0.1)
    if ws.segment == Segment.SOLO_HEAVY:
        return (rng.uniform(0.95, 1.25), 0.85)
    if ws.segment == Segment.SALES:
        return (rng.uniform(0.5, 1.5), 0.6)
    # Growing: from a tenth of the limit and a few people to all of it and most of the team.
    if ws.ended_at is not None and at >= ws.ended_at:
        return (0.1, 0.1)
    if ws.upgraded_at is None:
        return (0.3, 0.5)
    if at >= ws.upgraded_at:
        months = (at - ws.upgraded_at).days / 30
        return (1.0 + 0.4 * months, 0.8)
    span = max((ws.upgraded_at - ws.start).total_seconds(), 1)
    share = max(0.0, (at - ws.start).total_seconds() / span) ** 2
    return (0.1 + 1.0 * share, 0.25 + 0.65 * share)


def _history(
    rng: random.Random,
    ws: _Workspace,
    now: datetime,
    plan_api_calls_limit: Callable[[str], int | None],
) -> tuple[list[UsageEvent], list[ProductEvent]]:
    free_limit = plan_api_calls_limit("free") or 10_000
    usage: list[UsageEvent] = []
    product: list[ProductEvent] = []

    def product_event(name: str, email: str, at: datetime, key: str, **properties) -> None:
        product.append(
            ProductEvent(
                workspace_id=ws.pk,
                name=name,
                user_email=email,
                properties=properties,
                occurred_at=at,
                idempotency_key=f"demo-{key}",
            )
        )

    first = max(ws.start, now - timedelta(days=DAYS - 1)).date()
    storage = 20 + ws.pk % 150
    month_key, month_used = None, 0
    for offset in range((now.date() - first).days + 1):
        day = first + timedelta(days=offset)
        noon = _day_stamp(day, now, 12)
        share, active = _engagement(ws, rng, noon)
        plan = ws.plan_on(noon)
        limit = plan_api_calls_limit(plan)
        joined = [email for email, at in ws.members if at <= noon]
        if ws.segment == Segment.SOLO_HEAVY:
            joined = joined[:1]
        people = [email for email in joined if rng.random() < active]
        if not people:
            continue
        if (noon.year, noon.month) != month_key:
            month_key, month_used = (noon.year, noon.month), 0
        if ws.has_api:
            base = free_limit / 30 * share if limit else _UNLIMITED_DAILY * len(people) * share
            calls = max(1, round(base * rng.uniform(0.7, 1.3)))
            if plan == "free" and limit is not None:
                allowed = max(0, limit - month_used)
                if calls > allowed:
                    # Blocked by the hard limit: the person who called hits the paywall.
                    product_event(
                        ProductEvent.PAYWALL_HIT,
                        people[0],
                        _day_stamp(day, now, 15),
                        f"paywall-api-{day}",
                        metric="api_calls",
                    )
                    calls = allowed
            if calls:
                month_used += calls
                usage.append(_usage_event(ws.pk, "api_calls", calls, noon))
            storage += rng.randint(0, 12)
            usage.append(_usage_event(ws.pk, "storage_mb", storage, noon))
        for index, email in enumerate(people):
            at = _day_stamp(day, now, 8 + 10 * rng.random())
            product_event(rng.choice(PRODUCT_EVENT_NAMES), email, at, f"{day}-{index}")
        # Growing teams run into the seat and project limits in the weeks before buying:
        # several people, on several days.
        if (
            ws.segment == Segment.GROWING
            and ws.upgraded_at is not None
            and timedelta(0) < ws.upgraded_at - noon <= timedelta(days=21)
            and plan == "free"
        ):
            for index, email in enumerate(people[:3]):
                if rng.random() < 0.5:
                    product_event(
                        ProductEvent.PAYWALL_HIT,
                        email,
                        _day_stamp(day, now, 10 + index),
                        f"paywall-{day}-{index}",
                        metric=rng.choice(PAYWALL_METRICS[1:]),
                    )
    return usage, product


def _usage_event(workspace_id: int, metric: str, quantity: int, at: datetime) -> UsageEvent:
    return UsageEvent(
        workspace_id=workspace_id,
        metric_id=metric,
        quantity=quantity,
        idempotency_key=f"demo-{metric}-{at:%Y-%m-%d}",
        occurred_at=at,
        received_at=at,
    )


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


def _planned(workspace: Workspace, plan: PlannedWorkspace, now: datetime) -> _Workspace:
    upgraded = plan.upgraded_at
    if plan.segment == Segment.GROWING and upgraded is None:
        # Not bought yet: on its way, near its limits now.
        upgraded = now + timedelta(days=3 + workspace.pk % 18)
    ended = None
    cancels = [step for step in plan.story if step.action == "cancel"]
    if cancels and plan.story[-1].action == "cancel":
        ended = cancels[-1].at + timedelta(days=31)
    return _Workspace(
        pk=workspace.pk,
        segment=plan.segment,
        start=plan.activated_at or plan.created_at,
        members=[(member.email, member.joined_at) for member in plan.members],
        has_api=plan.activated_at is not None,
        upgraded_at=upgraded,
        ended_at=ended,
        plan_on=plan.plan_on,
    )


def _acme(workspace: Workspace) -> _Workspace:
    members = list(
        Membership.objects.filter(workspace=workspace)
        .order_by("created_at")
        .values_list("user__email", "created_at")
    )
    return _Workspace(
        pk=workspace.pk,
        segment=Segment.STEADY,
        start=workspace.activated_at or workspace.created_at,
        members=members,
        has_api=True,
        upgraded_at=None,
        ended_at=None,
        plan_on=lambda at: "pro",
    )


def _invitation_events(workspace_ids: list[int]) -> list[ProductEvent]:
    """A ``teammate_invited`` event by the inviter for every invitation sent."""
    rows = (
        Invitation.objects.filter(workspace_id__in=workspace_ids)
        .order_by("pk")
        .values_list("pk", "workspace_id", "invited_by__email", "sent_at")
    )
    return [
        ProductEvent(
            workspace_id=workspace_id,
            name="teammate_invited",
            user_email=email or "",
            occurred_at=sent_at,
            idempotency_key=f"demo-invited-{pk}",
        )
        for pk, workspace_id, email, sent_at in rows
    ]


def seed_usage(
    *,
    rng: random.Random,
    now: datetime,
    plan_api_calls_limit: Callable[[str], int | None],
    created: Sequence[tuple[Workspace, PlannedWorkspace]],
    also: Sequence[Workspace] = (),
) -> int:
    """A year of usage for the demo workspaces just created (``created``, with their plans)
    and for those in ``also`` (Acme Analytics) that have none yet, shaped by the API-call
    limit of each plan (``plan_api_calls_limit(plan_code)``, billing's fact, None for
    unlimited). Returns how many workspaces got usage."""
    shapes = [_planned(workspace, plan, now) for workspace, plan in created]
    with_usage = set(
        UsageEvent.objects.filter(workspace__in=list(also)).values_list("workspace_id", flat=True)
    )
    shapes += [_acme(workspace) for workspace in also if workspace.pk not in with_usage]
    if not shapes:
        return 0
    metrics = {m.key: m for m in Metric.objects.all()}
    events: list[UsageEvent] = []
    product_events: list[ProductEvent] = []
    for shape in shapes:
        more_usage, more_product = _history(rng, shape, now, plan_api_calls_limit)
        events += more_usage
        product_events += more_product
    ids = [shape.pk for shape in shapes]
    product_events += _invitation_events(ids)
    UsageEvent.objects.bulk_create(events, batch_size=2000, ignore_conflicts=True)
    ProductEvent.objects.bulk_create(product_events, batch_size=2000, ignore_conflicts=True)
    # Bulk-loaded events bypass the services: recompute their rollups.
    product_event_rollups_rebuild(pk_from=min(ids), pk_to=max(ids) + 1)
    counters, days = _rollups(events, metrics, now)
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
    return len(shapes)
