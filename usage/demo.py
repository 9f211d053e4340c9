"""Demo usage for ``manage.py seed_demo``: a year of daily history for the demo workspaces
(``Workspace.is_demo``, set by seed_demo only), shaped by each one's segment and story
(``accounts.demo.PlannedWorkspace``): API calls and storage per day, and product events by
their members (active people, invitations, paywall hits).

* **Dormant** workspaces are used for a few days after sign-up, then never again.
* **Steady** ones are used now and then by one or two people, well within the free limits,
  for some months; most are left after that.
* **Solo heavy** ones: one person calling the API up to the free limit every month and
  hitting the paywall alone, with no team. They look like a lead to a "used 80% of a limit"
  rule, and never buy.
* **Growing** ones: more people active week after week and API calls rising toward the free
  limit; in the weeks before they upgrade several people hit paywalls on several days. After
  the upgrade they keep growing on the paid plan (the ``scaling`` ones, and those that move
  to Business, toward Pro's API-call limit); after a cancellation their use fades. The ones
  whose upgrade has not happened yet are growing toward their limits now.

Free plans' API calls are capped at their monthly limit, as ingestion's hard limit caps
them: what would exceed it is a paywall hit instead. The events go into the same tables as
real ones (one event per workspace, metric and day), and the counters, daily rollups and
product-event rollups are computed in memory from exactly those events, so every invariant
of real usage holds for demo data too. Everything is inserted in a few multi-row
statements. Deterministic from the seeded generator, dates relative to ``now``. Idempotent:
only workspaces without usage get any.
"""

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Field, Model

from accounts.demo import PlannedWorkspace, Segment
from accounts.models import Invitation, Membership, Workspace
from usage.models import (
    ActivePersonDay,
    Metric,
    ProductEvent,
    ProductEventDaily,
    UsageCounter,
    UsageDaily,
    UsageEvent,
)

DAYS = 365
PRODUCT_EVENT_NAMES = ("report_exported", "dashboard_viewed", "project_opened", "query_run")
PAYWALL_METRICS = ("api_calls", "seats", "projects")
_UNLIMITED_DAILY = 3_000  # API calls a day of a person on a plan without an API-call limit
# A month's API calls of a Pro customer outgrowing Pro, as a share of Pro's limit (a soft
# limit: calls over it are allowed), so it is near the limit before the month is out.
_PRO_PACE = 1.3
_ROWS_PER_INSERT = 200

# A plan's limit of a metric by plan code and metric key (None: unlimited): billing's fact.
PlanLimit = Callable[[str, str], int | None]


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
    outgrows_pro_at: datetime | None  # API calls near Pro's limit by then (Business, or now)
    plan_on: Callable[[datetime], str]


@dataclass
class _Rows:
    """The rows of a workspace's history, as tuples in the column order of ``_COLUMNS``."""

    usage: list[tuple]
    product: list[tuple]


def _day_stamp(day: date, now: datetime, hour: float) -> datetime:
    at = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(hours=hour)
    return min(at, now - timedelta(minutes=1))


def _ramp(at: datetime, start: datetime, end: datetime) -> float:
    """0 at ``start`` to 1 at ``end``, quadratic (slow, then faster)."""
    span = max((end - start).total_seconds(), 1)
    return min(1.0, max(0.0, (at - start).total_seconds() / span)) ** 2


def _engagement(
    ws: _Workspace, rng: random.Random, at: datetime, pro_share: float
) -> tuple[float, float]:
    """(API calls a day as a share of the free plan's monthly limit times 30, chance each
    member is active that day). ``pro_share`` is Pro's API-call limit in the same unit."""
    age = (at - ws.start).days
    weekday = at.weekday() < 5
    if ws.segment == Segment.DORMANT:
        return (0.2, 0.7) if age <= 3 + ws.pk % 9 else (0, 0)
    if ws.segment == Segment.STEADY:
        # Used for some months, then left, as most free workspaces are.
        if age > 45 + ws.pk * 37 % 240:
            return (0, 0)
        return (rng.uniform(0.1, 0.3), 0.35 if weekday else 0.08)
    if ws.segment == Segment.SOLO_HEAVY:
        return (rng.uniform(1.2, 2.0), 0.85)
    if ws.segment == Segment.SALES:
        return (rng.uniform(0.5, 1.5), 0.35 if weekday else 0.1)
    # Growing: from a tenth of the free limit and a few people to all of it and most of the
    # team, then on a paid plan.
    if ws.ended_at is not None and at >= ws.ended_at:
        return (0.1, 0.1)
    if ws.upgraded_at is None or at < ws.upgraded_at:
        share = _ramp(at, ws.start, ws.upgraded_at) if ws.upgraded_at else 0.1
        return (0.1 + 1.5 * share, 0.25 + 0.65 * share)
    if ws.outgrows_pro_at is not None:
        ceiling = pro_share * _PRO_PACE
        if at < ws.outgrows_pro_at:
            share = 1.0 + (ceiling - 1.0) * _ramp(at, ws.upgraded_at, ws.outgrows_pro_at)
            return (share, 0.8 if weekday else 0.2)
        return (ceiling * (1 + 0.1 * (at - ws.outgrows_pro_at).days / 30), 0.8 if weekday else 0.2)
    months = (at - ws.upgraded_at).days / 30
    return (min(1.0 + 0.4 * months, 6.0), 0.8)


def _history(rng: random.Random, ws: _Workspace, now: datetime, plan_limit: PlanLimit) -> _Rows:
    free_limit = plan_limit("free", "api_calls") or 10_000
    pro_share = (plan_limit("pro", "api_calls") or free_limit) / free_limit
    rows = _Rows(usage=[], product=[])

    def product_event(name: str, email: str, at: datetime, key: str, **properties) -> None:
        rows.product.append((ws.pk, name, email, properties, at, f"demo-{key}"))

    def usage_event(metric: str, quantity: int, at: datetime) -> None:
        rows.usage.append((ws.pk, metric, quantity, f"demo-{metric}-{at:%Y-%m-%d}", at, at))

    first = max(ws.start, now - timedelta(days=DAYS - 1)).date()
    storage, storage_week = 20 + ws.pk % 150, None
    month_key, month_used = None, 0
    for offset in range((now.date() - first).days + 1):
        day = first + timedelta(days=offset)
        noon = _day_stamp(day, now, 12)
        share, active = _engagement(ws, rng, noon, pro_share)
        if not active:
            continue
        plan = ws.plan_on(noon)
        limit = plan_limit(plan, "api_calls")
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
                    # Blocked by the hard limit: a paywall hit of the API key, no person.
                    product_event(
                        ProductEvent.PAYWALL_HIT,
                        "",
                        _day_stamp(day, now, 15),
                        f"paywall-api-{day}",
                        metric="api_calls",
                    )
                    calls = allowed
            if calls:
                month_used += calls
                usage_event("api_calls", calls, noon)
            # Storage grows with use, stays under the plan's storage limit, and is reported
            # (a gauge: its latest value) on the first active day of each week.
            room = plan_limit(plan, "storage_mb")
            storage += rng.randint(0, 3 if plan == "free" else 12)
            if room is not None:
                storage = min(storage, room * 7 // 10)
            week = day.isocalendar()[:2]
            if week != storage_week:
                storage_week = week
                usage_event("storage_mb", storage, noon)
        for index, email in enumerate(people):
            at = _day_stamp(day, now, 8 + 10 * rng.random())
            product_event(rng.choice(PRODUCT_EVENT_NAMES), email, at, f"{day}-{index}")
        # Growing teams run into the seat and project limits in the weeks before buying,
        # and the customers outgrowing Pro into their seats before moving up: several
        # people, on several days.
        if ws.segment == Segment.GROWING and any(
            due is not None and timedelta(0) < due - noon <= timedelta(days=21)
            for due in (ws.upgraded_at, ws.outgrows_pro_at)
        ):
            for index, email in enumerate(people[:3]):
                if rng.random() < 0.5:
                    product_event(
                        ProductEvent.PAYWALL_HIT,
                        email,
                        _day_stamp(day, now, 10 + index),
                        f"paywall-{day}-{index}",
                        metric="seats" if plan != "free" else rng.choice(PAYWALL_METRICS[1:]),
                    )
    return rows


# The columns each bulk-loaded table is written with, in the order of the row tuples.
_COLUMNS: dict[type[Model], tuple[str, ...]] = {
    UsageEvent: (
        "workspace",
        "metric",
        "quantity",
        "idempotency_key",
        "occurred_at",
        "received_at",
    ),
    ProductEvent: (
        "workspace",
        "name",
        "user_email",
        "properties",
        "occurred_at",
        "idempotency_key",
    ),
    UsageCounter: ("workspace", "metric", "period_start", "value", "last_event_at", "updated_at"),
    UsageDaily: ("workspace", "metric", "day", "value", "events"),
    ProductEventDaily: ("workspace", "name", "day", "events", "people", "last_at"),
    ActivePersonDay: ("workspace", "day", "name", "person"),
}


def _adapter(field: Field) -> Callable[[object], object]:
    """How a value of ``field`` goes to the database: what ``field.get_db_prep_save`` does,
    without its per-call overhead for the plain types of the demo tables."""
    ops = connection.ops
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return ops.adapt_datetimefield_value
    if kind == "DateField":
        return ops.adapt_datefield_value
    if kind in ("JSONField",):
        return lambda value: field.get_db_prep_save(value, connection)
    return lambda value: value


def _insert(model: type[Model], rows: Sequence[tuple]) -> None:
    """Insert ``rows`` (tuples in ``_COLUMNS[model]``'s order) with multi-row INSERTs of
    ``_ROWS_PER_INSERT`` rows each, each value prepared for the database as the ORM would:
    the bulk of the demo history, without a model instance per row. The statements go
    through ``executemany``, which DEBUG's query log records without rendering each one's
    thousands of parameters into SQL."""
    fields = [model._meta.get_field(name) for name in _COLUMNS[model]]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    prepare = [_adapter(field) for field in fields]
    batches: dict[int, list[list]] = defaultdict(list)  # rows per statement: parameters
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        batches[len(chunk)].append(
            [prep(value) for row in chunk for prep, value in zip(prepare, row, strict=True)]
        )
    with connection.cursor() as cursor:
        for size, param_list in batches.items():
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608 - names from _meta
                + ", ".join([placeholder] * size),
                param_list,
            )


def _usage_rollups(
    events: Iterable[tuple], metrics: dict[str, Metric], now: datetime
) -> tuple[list[tuple], list[tuple]]:
    """Counters (current periods) and daily rollups of usage events (``_COLUMNS`` rows)."""
    counters: dict[tuple[int, str, datetime], list[tuple[datetime, int]]] = defaultdict(list)
    days: dict[tuple[int, str, date], list[tuple[datetime, int]]] = defaultdict(list)
    for workspace_id, key, quantity, _, occurred_at, _ in events:
        metric = metrics[key]
        period = metric.period_start(occurred_at)
        if period == metric.period_start(now):
            counters[(workspace_id, key, period)].append((occurred_at, quantity))
        days[(workspace_id, key, occurred_at.astimezone(UTC).date())].append(
            (occurred_at, quantity)
        )

    def value(key: str, group: list[tuple[datetime, int]]) -> int:
        if metrics[key].is_additive:
            return sum(quantity for _, quantity in group)
        return max(group)[1]  # storage is a last value

    return (
        [
            (ws, key, period, value(key, group), max(group)[0], now)
            for (ws, key, period), group in counters.items()
        ],
        [(ws, key, day, value(key, group), len(group)) for (ws, key, day), group in days.items()],
    )


def _product_rollups(events: Iterable[tuple]) -> tuple[list[tuple], list[tuple]]:
    """The daily rollups of product events and their active people (``_COLUMNS`` rows), as
    ``usage.rollups`` keeps them: per workspace, name and UTC day, the events, the distinct
    people (lower-cased addresses) and the latest time."""
    counts: Counter[tuple[int, str, date]] = Counter()
    latest: dict[tuple[int, str, date], datetime] = {}
    people: set[tuple[int, date, str, str]] = set()
    for workspace_id, name, email, _, occurred_at, _ in events:
        day = occurred_at.astimezone(UTC).date()
        key = (workspace_id, name, day)
        counts[key] += 1
        latest[key] = max(latest.get(key, occurred_at), occurred_at)
        if email:
            people.add((workspace_id, day, name, email.lower()))
    distinct = Counter((workspace_id, name, day) for workspace_id, day, name, _ in people)
    daily = [(*key, count, distinct[key], latest[key]) for key, count in counts.items()]
    return daily, sorted(people)


def _planned(workspace: Workspace, plan: PlannedWorkspace, now: datetime) -> _Workspace:
    upgraded = plan.upgraded_at or plan.upgrade_due
    ended = None
    cancels = [step for step in plan.story if step.action == "cancel"]
    if cancels and plan.story[-1].action == "cancel":
        ended = cancels[-1].at + timedelta(days=31)
    business = next((step.at for step in plan.story if step.plan_code == "business"), None)
    # A scaling customer is about to outgrow Pro: in the coming days.
    scaling_due = now + timedelta(days=2 + workspace.pk % 12)
    return _Workspace(
        pk=workspace.pk,
        segment=plan.segment,
        start=plan.activated_at or plan.created_at,
        members=[(member.email, member.joined_at) for member in plan.members],
        has_api=plan.activated_at is not None,
        upgraded_at=upgraded,
        ended_at=ended,
        outgrows_pro_at=business or (scaling_due if plan.scaling else None),
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
        outgrows_pro_at=None,
        plan_on=lambda at: "pro",
    )


def _invitation_events(workspace_ids: set[int]) -> list[tuple]:
    """A ``teammate_invited`` event by the inviter for every invitation sent (read over the
    workspaces' primary-key range, kept for ``workspace_ids``)."""
    rows = (
        Invitation.objects.filter(
            workspace_id__gte=min(workspace_ids), workspace_id__lte=max(workspace_ids)
        )
        .order_by("pk")
        .values_list("pk", "workspace_id", "invited_by__email", "sent_at")
    )
    return [
        (workspace_id, "teammate_invited", email or "", {}, sent_at, f"demo-invited-{pk}")
        for pk, workspace_id, email, sent_at in rows
        if workspace_id in workspace_ids
    ]


def seed_usage(
    *,
    rng: random.Random,
    now: datetime,
    plan_limit: PlanLimit,
    created: Sequence[tuple[Workspace, PlannedWorkspace]],
    also: Sequence[Workspace] = (),
) -> int:
    """A year of usage for the demo workspaces just created (``created``, with their plans)
    and for those in ``also`` (Acme Analytics) that have none yet, shaped by each plan's
    limits (``plan_limit(plan_code, metric)``, billing's fact, None for unlimited). Returns
    how many workspaces got usage."""
    shapes = [_planned(workspace, plan, now) for workspace, plan in created]
    with_usage = set(
        UsageEvent.objects.filter(workspace__in=list(also)).values_list("workspace_id", flat=True)
    )
    shapes += [_acme(workspace) for workspace in also if workspace.pk not in with_usage]
    if not shapes:
        return 0
    metrics = {m.key: m for m in Metric.objects.all()}
    usage: list[tuple] = []
    product: list[tuple] = []
    for shape in shapes:
        rows = _history(rng, shape, now, plan_limit)
        usage += rows.usage
        product += rows.product
    product += _invitation_events({shape.pk for shape in shapes})
    counters, days = _usage_rollups(usage, metrics, now)
    product_daily, people = _product_rollups(product)
    _insert(UsageEvent, usage)
    _insert(UsageCounter, counters)
    _insert(UsageDaily, days)
    _insert(ProductEvent, product)
    _insert(ProductEventDaily, product_daily)
    _insert(ActivePersonDay, people)
    return len(shapes)
