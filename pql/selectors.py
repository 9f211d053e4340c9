"""Reads of the pql app: scores with how they moved and their history, and the sales queue
(its filters, keyset pages and rows)."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import selectors as accounts_selectors
from accounts.errors import ApplicationError
from accounts.models import User
from accounts.roles import SALES
from billing import selectors as billing_selectors
from billing.selectors import PlanFacts
from pql.models import (
    OPEN_LEAD_STATUSES,
    Lead,
    LeadActivity,
    LeadStatus,
    LeadType,
    QueueSettings,
    SalesRep,
    SavedView,
    Score,
    ScoreSnapshot,
)
from pql.scoring import SIGNALS
from pql.services.queue import LeadNotFound
from usage import selectors as usage_selectors

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


# The sales queue ------------------------------------------------------------------------------

PAGE_SIZE = 50
PAGE_SIZE_MAX = 200
SORTS = {
    # key: the ordering, newest or highest first where it says so; ties by id.
    "score": ("-engagement", "-id"),
    "-score": ("engagement", "id"),
    "age": ("opened_at", "id"),  # oldest first
    "-age": ("-opened_at", "-id"),
    "sla": ("sla_due_at", "id"),  # soonest due first
}
SLA_STATES = ("at_risk", "breached")
STATUS_CHOICES = ("open", "all", *LeadStatus.values)
SNOOZED_VALUES = ("", "0", "1", "false", "true", "off", "on")
# Every parameter of the queue's address.
QUERY_PARAMS = (
    "status",
    "owner",
    "type",
    "score_min",
    "score_max",
    "fit_min",
    "fit_max",
    "plan",
    "signal",
    "sla",
    "q",
    "sort",
    "snoozed",
    "after",
    "size",
)


@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters, sort, search and page, as its address carries them."""

    status: str = "open"
    owner: str = ""  # "", "mine", "unassigned" or a rep's user id
    type: str = ""
    score_min: int | None = None
    score_max: int | None = None
    fit_min: int | None = None
    fit_max: int | None = None
    plan: str = ""
    signal: str = ""
    sla: str = ""
    q: str = ""
    sort: str = "score"
    snoozed: bool = False
    after: str = ""
    size: int = PAGE_SIZE


def _int_param(params, name: str, low: int, high: int) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApplicationError(f"{name} must be a whole number.", field=name) from None
    if not low <= value <= high:
        raise ApplicationError(f"{name} must be between {low} and {high}.", field=name)
    return value


def _choice_param(params, name: str, choices, default: str = "") -> str:
    value = (params.get(name) or default).strip()
    if value and value not in choices:
        raise ApplicationError(
            f"{name} must be one of: {', '.join(str(c) for c in choices)}.", field=name
        )
    return value


def queue_query_parse(params) -> QueueQuery:
    """The queue's query from request parameters; a value out of range or unknown raises an
    ``ApplicationError`` naming it (the page and the API answer 400 with it)."""
    for name in QUERY_PARAMS:
        if "\x00" in (params.get(name) or ""):
            raise ApplicationError(f"{name} cannot contain the NUL character.", field=name)
    owner = (params.get("owner") or "").strip()
    if owner not in ("", "mine", "unassigned") and not (
        owner.isascii() and owner.isdigit() and len(owner) <= 18
    ):
        raise ApplicationError("owner must be mine, unassigned or a rep's id.", field="owner")
    q = (params.get("q") or "").strip()
    if len(q) > 200:
        raise ApplicationError("Search for 200 characters at the most.", field="q")
    snoozed = (params.get("snoozed") or "").strip().lower()
    if snoozed not in SNOOZED_VALUES:
        raise ApplicationError(
            f"snoozed must be one of: {', '.join(v for v in SNOOZED_VALUES if v)}.",
            field="snoozed",
        )
    query = QueueQuery(
        status=_choice_param(params, "status", STATUS_CHOICES, "open"),
        owner=owner,
        type=_choice_param(params, "type", LeadType.values),
        score_min=_int_param(params, "score_min", 0, 100),
        score_max=_int_param(params, "score_max", 0, 100),
        fit_min=_int_param(params, "fit_min", 0, 100),
        fit_max=_int_param(params, "fit_max", 0, 100),
        plan=(params.get("plan") or "").strip()[:50],
        signal=_choice_param(params, "signal", tuple(SIGNALS)),
        sla=_choice_param(params, "sla", SLA_STATES),
        q=q,
        sort=_choice_param(params, "sort", tuple(SORTS), "score"),
        snoozed=snoozed in ("1", "true", "on"),
        after=(params.get("after") or "").strip()[:200],
        size=_int_param(params, "size", 1, PAGE_SIZE_MAX) or PAGE_SIZE,
    )
    if query.after:
        _cursor_decode(query.after, query.sort)
    return query


def _cursor_encode(lead: Lead, sort: str) -> str:
    field = SORTS[sort][0].lstrip("-")
    value = getattr(lead, field)
    raw = json.dumps([value.isoformat() if isinstance(value, datetime) else value, lead.pk])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str, sort: str) -> tuple[object, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, pk = json.loads(raw)
        if not isinstance(pk, int):
            raise ValueError
        if SORTS[sort][0].lstrip("-") in ("opened_at", "sla_due_at"):
            value = datetime.fromisoformat(value)
        elif not isinstance(value, int):
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        raise ApplicationError(
            "after is not a page marker this queue gave out (with this sort).", field="after"
        ) from None
    return value, pk


def _after(queryset: QuerySet[Lead], query: QueueQuery) -> QuerySet[Lead]:
    value, pk = _cursor_decode(query.after, query.sort)
    first, _ = SORTS[query.sort]
    field = first.lstrip("-")
    op = "lt" if first.startswith("-") else "gt"
    return queryset.filter(Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk}))


def leads_queue_queryset(query: QueueQuery, *, actor, now: datetime | None = None):
    """The leads the query asks for, in its order (before paging)."""
    now = now or timezone.now()
    leads = Lead.objects.all()
    if query.status == "open":
        leads = leads.filter(status__in=OPEN_LEAD_STATUSES)
    elif query.status != "all":
        leads = leads.filter(status=query.status)
    if query.owner == "mine":
        leads = leads.filter(owner=actor)
    elif query.owner == "unassigned":
        leads = leads.filter(owner__isnull=True)
    elif query.owner:
        leads = leads.filter(owner_id=int(query.owner))
    if query.type:
        leads = leads.filter(type=query.type)
    for field, low, high in (
        ("engagement", query.score_min, query.score_max),
        ("fit", query.fit_min, query.fit_max),
    ):
        if low is not None:
            leads = leads.filter(**{f"{field}__gte": low})
        if high is not None:
            leads = leads.filter(**{f"{field}__lte": high})
    if query.plan:
        on_plan = billing_selectors.workspaces_on_plan(plan_code=query.plan)
        leads = leads.filter(workspace_id__in=on_plan)
    if query.signal:
        leads = leads.filter(reason_signals__contains=f",{query.signal},")
    if query.sla == "breached":
        leads = leads.filter(first_contact_at__isnull=True, sla_due_at__lte=now)
    elif query.sla == "at_risk":
        leads = leads.filter(
            first_contact_at__isnull=True, sla_due_at__gt=now, sla_warned_at__isnull=False
        )
    if not query.snoozed:
        leads = leads.filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
    if query.q:
        ids = accounts_selectors.workspace_ids_matching(q=query.q, limit=SEARCH_SORTED)
        if ids is not None:
            leads = leads.filter(workspace_id__in=ids)
            return leads.order_by(*(_sorted_not_walked(field) for field in SORTS[query.sort]))
        leads = leads.filter(
            Q(workspace__name__icontains=query.q) | Q(workspace__company_domain__icontains=query.q)
        )
    return leads.order_by(*SORTS[query.sort])


# A search matching at most this many workspaces reads their ids first (through trigram
# indexes on PostgreSQL), then sorts their leads; one matching more walks the queue's index
# in order until a page of them turns up. Left to itself PostgreSQL walked the index for
# rarer terms too, or read every workspace to match them: a search matching 0.7% of 100,000
# leads took 120-300 ms either way, 12 ms this way (bench/queue.py).
SEARCH_SORTED = 2000


def _sorted_not_walked(field: str):
    """The ordering ``field`` ("-engagement", "id"…) as an expression no index provides
    (COALESCE of the column with itself), so the database sorts the rows it found."""
    name = field.lstrip("-")
    expression = Coalesce(F(name), F(name))
    return expression.desc() if field.startswith("-") else expression.asc()


@dataclass(frozen=True)
class QueuePage:
    leads: list[Lead]
    next_after: str | None  # the marker of the next page; None on the last


def leads_queue(query: QueueQuery, *, actor, now: datetime | None = None) -> QueuePage:
    """A page of the queue, by keyset (``after``): as fast on page 1,000 as on page 1."""
    leads = leads_queue_queryset(query, actor=actor, now=now)
    if query.after:
        leads = _after(leads, query)
    rows = list(leads.select_related("workspace", "owner")[: query.size + 1])
    more = len(rows) > query.size
    rows = rows[: query.size]
    return QueuePage(leads=rows, next_after=_cursor_encode(rows[-1], query.sort) if more else None)


@dataclass(frozen=True)
class QueueRow:
    """A lead as a queue row shows it."""

    lead: Lead
    trend: str  # "+18 since last week"
    reasons: list[str]
    plan: PlanFacts | None
    seats_used: int
    age: timedelta
    sla_state: str  # "met", "breached", "at_risk", "due"


def queue_rows(leads: list[Lead], *, now: datetime | None = None) -> list[QueueRow]:
    """Everything a page of queue rows shows, in a constant number of queries whatever the
    page size: scores a week ago, plans and MRR, seats used."""
    now = now or timezone.now()
    ids = [lead.workspace_id for lead in leads]
    before = dict(
        scores_with_trend(Score.objects.filter(workspace_id__in=ids)).values_list(
            "workspace_id", "engagement_before"
        )
    )
    plans = billing_selectors.workspace_plan_facts(workspace_ids=ids)
    seats = accounts_selectors.workspaces_seats_used(workspace_ids=ids, now=now)
    return [
        QueueRow(
            lead=lead,
            trend=trend_words(lead.engagement, before.get(lead.workspace_id)),
            reasons=[reason["text"] for reason in lead.top_reasons],
            plan=plans.get(lead.workspace_id),
            seats_used=seats.get(lead.workspace_id, 0),
            age=now - lead.opened_at,
            sla_state=sla_state(lead, now=now),
        )
        for lead in leads
    ]


def sla_state(lead: Lead, *, now: datetime) -> str:
    """met (contacted), breached (due and no contact), at_risk (warned), or due."""
    if lead.first_contact_at is not None:
        return "met"
    if lead.sla_due_at <= now:
        return "breached"
    return "at_risk" if lead.sla_warned_at is not None else "due"


# The queue's people, saved views and SLA attainment --------------------------------------------


def sales_reps():
    """The reps a lead can be assigned to: active members of the Sales group, by e-mail."""
    return accounts_selectors.group_members(group=SALES)


def saved_views(*, owner) -> QuerySet[SavedView]:
    """A rep's own saved views, by name."""
    return SavedView.objects.filter(owner=owner).order_by("name", "id")


@dataclass(frozen=True)
class Attainment:
    owner_id: int
    email: str
    due: int  # leads whose first-contact time has come (contacted, or due by now)
    met: int  # of those, contacted before they were due

    @property
    def percent(self) -> int | None:
        return round(100 * self.met / self.due) if self.due else None


def sla_attainment(*, days: int = 30, now: datetime | None = None) -> list[Attainment]:
    """Per rep, the share of their leads opened in the last ``days`` days that were contacted
    before their due time (leads not yet due and not contacted do not count). One query."""
    now = now or timezone.now()
    rows = (
        Lead.objects.filter(owner__isnull=False, opened_at__gte=now - timedelta(days=days))
        .filter(Q(first_contact_at__isnull=False) | Q(sla_due_at__lte=now))
        .values("owner_id", "owner__email")
        .annotate(
            due=Count("id"),
            met=Count("id", filter=Q(first_contact_at__lte=F("sla_due_at"))),
        )
        .order_by("owner__email")
    )
    return [
        Attainment(owner_id=r["owner_id"], email=r["owner__email"], due=r["due"], met=r["met"])
        for r in rows
    ]


# The lead page ---------------------------------------------------------------------------------


def lead_get(*, lead_id: int) -> Lead:
    """A lead with its workspace and owner; ``LeadNotFound`` (404) when there is none."""
    lead = Lead.objects.select_related("workspace", "owner").filter(pk=lead_id).first()
    if lead is None:
        raise LeadNotFound(f"There is no lead {lead_id}.")
    return lead


def lead_timeline(*, lead: Lead) -> list[LeadActivity]:
    """The lead's timeline with who did each thing, newest first."""
    return list(lead.activities.select_related("actor").order_by("-at", "-id"))


@dataclass(frozen=True)
class MetricUsage:
    key: str
    name: str
    unit: str
    used: int
    limit: int | None
    status: str
    percent: int | None
    history: list[tuple[date, int]]  # the last 30 days, metered metrics only


@dataclass(frozen=True)
class LeadStory:
    """The account behind a lead, as the lead page tells it."""

    workspace: object
    members: list
    invitations: list
    usage: list[MetricUsage]
    paywall_hits: list
    plan: PlanFacts | None
    billing_events: list  # the workspace's subscription audit events, newest first
    movements: list
    cancellations: list
    score: Score | None
    history: list[HistoryPoint]
    timeline: list[LeadActivity]


BILLING_ACTIONS = (
    "subscription.plan_changed",
    "subscription.changed",
    "subscription.cancel_requested",
    "subscription.resumed",
)
STORY_DAYS = 30


def lead_story(*, lead: Lead, now: datetime | None = None) -> LeadStory:
    """Everything the lead page shows about its workspace, read through each app's
    selectors; the number of queries does not depend on how much there is."""
    now = now or timezone.now()
    workspace = lead.workspace
    wid = workspace.pk
    summary = billing_selectors.entitlements_summary(workspace=workspace)
    metrics = usage_selectors.metric_definitions()
    usage = []
    for key, row in summary["limits"].items():
        metric = metrics.get(key)
        limit = row["limit"]
        metered = metric is not None and metric.is_metered
        usage.append(
            MetricUsage(
                key=key,
                name=metric.name if metric else key,
                unit=metric.unit if metric else "",
                used=row["used"],
                limit=limit,
                status=row["status"],
                percent=min(100, round(100 * row["used"] / limit)) if limit else None,
                history=(
                    usage_selectors.daily_history(
                        workspace_id=wid, metric=key, days=STORY_DAYS, today=now.date()
                    )
                    if metered
                    else []
                ),
            )
        )
    usage.sort(key=lambda m: (not m.history, m.name))
    return LeadStory(
        workspace=workspace,
        members=list(accounts_selectors.workspace_members(workspace=workspace).order_by("id")),
        invitations=accounts_selectors.workspace_invitations(workspace_id=wid),
        usage=usage,
        paywall_hits=usage_selectors.workspace_paywall_hits(workspace_id=wid, now=now),
        plan=billing_selectors.workspace_plan_facts(workspace_ids=[wid]).get(wid),
        billing_events=list(
            accounts_selectors.workspace_audit_events(workspace=workspace).filter(
                action__in=BILLING_ACTIONS
            )[:50]
        ),
        movements=list(billing_selectors.workspace_revenue_movements(workspace_id=wid)),
        cancellations=list(billing_selectors.workspace_cancellations(workspace_id=wid)),
        score=Score.objects.filter(workspace_id=wid).first(),
        history=score_history(workspace_id=wid, days=90, now=now),
        timeline=lead_timeline(lead=lead),
    )


def queue_settings_read() -> QueueSettings:
    """The queue's settings (the defaults, unsaved, if the row is missing: a read never
    writes)."""
    return QueueSettings.objects.filter(pk=1).first() or QueueSettings(pk=1)


def sales_rep_settings(*, user_ids: list[int]) -> dict[int, SalesRep]:
    """The reps' round-robin settings by user id (reps without a row are absent)."""
    return {rep.user_id: rep for rep in SalesRep.objects.filter(user_id__in=user_ids)}


# One lead -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadDetail:
    """A lead as its page and the API show it: its queue row, the workspace's current score
    with its explanation, and the timeline, oldest first."""

    row: QueueRow
    score: Score | None
    timeline: list[LeadActivity]


def lead_detail(*, lead_id: int, now: datetime | None = None) -> LeadDetail | None:
    """The lead with everything its page shows (a constant number of queries), or None."""
    lead = Lead.objects.select_related("workspace", "owner").filter(pk=lead_id).first()
    if lead is None:
        return None
    (row,) = queue_rows([lead], now=now)
    score = Score.objects.filter(workspace_id=lead.workspace_id).first()
    timeline = list(
        LeadActivity.objects.filter(lead_id=lead.pk).select_related("actor").order_by("at", "id")
    )
    return LeadDetail(row=row, score=score, timeline=timeline)


def sales_user_get(*, user_id: int) -> User | None:
    """A user to hand a lead to, by id (the service checks they are a rep)."""
    return User.objects.filter(pk=user_id).first()


# What a week brought (the sales managers' weekly digest) --------------------------------------


@dataclass(frozen=True)
class RepRevenue:
    """Leads one rep (None: nobody, a self-serve win of an unowned lead) won in a period, and
    the MRR they added since each opened, per currency."""

    email: str | None
    won: int
    mrr_change_cents: int
    currency: str


@dataclass(frozen=True)
class SalesPeriod:
    since: datetime
    until: datetime
    opened: int
    top_opened: list[Lead]
    won: int
    lost: int
    sla_breaches: int
    revenue_by_rep: list[RepRevenue]


def sales_period(*, since: datetime, until: datetime, top: int = 10) -> SalesPeriod:
    """The leads opened, won and lost, the first contacts missed, and the MRR added by won
    leads per rep, in ``[since, until)`` (a fixed number of queries)."""
    opened = Lead.objects.filter(opened_at__gte=since, opened_at__lt=until)
    closed = Lead.objects.filter(closed_at__gte=since, closed_at__lt=until)
    counts = closed.aggregate(
        won=Count("id", filter=Q(status=LeadStatus.WON)),
        lost=Count("id", filter=Q(status=LeadStatus.LOST)),
    )
    revenue = (
        closed.filter(status=LeadStatus.WON)
        .values("owner__email", "currency")
        .annotate(won=Count("id"), mrr=Coalesce(Sum("mrr_change_cents"), 0))
        .order_by("-mrr", "owner__email")
    )
    return SalesPeriod(
        since=since,
        until=until,
        opened=opened.count(),
        top_opened=list(
            opened.select_related("workspace").order_by("-engagement", "-fit", "id")[:top]
        ),
        won=counts["won"],
        lost=counts["lost"],
        sla_breaches=Lead.objects.filter(
            sla_breached_at__gte=since, sla_breached_at__lt=until
        ).count(),
        revenue_by_rep=[
            RepRevenue(row["owner__email"], row["won"], row["mrr"], row["currency"])
            for row in revenue
        ],
    )


def leads_with_people(*, lead_ids: list[int]) -> list[Lead]:
    """Leads with their workspace and owner (one query), to announce them elsewhere; the ids
    are those of one change (at most a scoring chunk's)."""
    return list(Lead.objects.filter(pk__in=lead_ids).select_related("workspace", "owner"))
