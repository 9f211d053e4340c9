"""What sales reps and managers do with leads, and the first-contact SLA.

Every action locks the lead's row, checks who may do it, changes it and writes a timeline
row (``LeadActivity``) saying who did what and when, in one transaction. Reps work the
leads they own; a lead nobody owns is claimed first. Sales managers (``pql.manage_queue``)
also assign leads to others, act on other reps' leads and act in bulk.

Statuses move forward, new → working → contacted → qualified, and a lead closes as won,
lost or disqualified with a reason; a closed (or expired) lead does not move again.
"""

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.errors import ApplicationError, Conflict, PermissionDenied
from accounts.models import User
from accounts.roles import SALES
from pql import events
from pql.emails import AT_RISK, BREACHED, lead_sla_notify
from pql.models import (
    OPEN_LEAD_STATUSES,
    Lead,
    LeadActivity,
    LeadStatus,
    QueueSettings,
    SalesRep,
    SavedView,
)
from pql.sla import WorkingHours, working_hours_add

WORK = "pql.work_lead"
MANAGE = "pql.manage_queue"

# Where each open status may go next (the closing ones need a reason).
NEXT_STATUSES: dict[str, tuple[str, ...]] = {
    LeadStatus.NEW: (
        LeadStatus.WORKING,
        LeadStatus.CONTACTED,
        LeadStatus.QUALIFIED,
        LeadStatus.WON,
        LeadStatus.LOST,
        LeadStatus.DISQUALIFIED,
    ),
    LeadStatus.WORKING: (
        LeadStatus.CONTACTED,
        LeadStatus.QUALIFIED,
        LeadStatus.WON,
        LeadStatus.LOST,
        LeadStatus.DISQUALIFIED,
    ),
    LeadStatus.CONTACTED: (
        LeadStatus.QUALIFIED,
        LeadStatus.WON,
        LeadStatus.LOST,
        LeadStatus.DISQUALIFIED,
    ),
    LeadStatus.QUALIFIED: (LeadStatus.WON, LeadStatus.LOST, LeadStatus.DISQUALIFIED),
}
CLOSING = (LeadStatus.WON, LeadStatus.LOST, LeadStatus.DISQUALIFIED)
REASON_MAX = 255
NOTE_MAX = 5000
CONTACT_CHANNELS = ("email", "call", "meeting", "chat", "other")
ASSIGN_MESSAGE = "Only sales managers assign leads to others."


def is_manager(user: User) -> bool:
    return user.has_perm(MANAGE)


def _require_rep(user: User) -> None:
    if not user.is_active or not user.has_perm(WORK):
        raise PermissionDenied("Only sales reps work leads.")


class LeadNotFound(ApplicationError):
    status = 404


def _locked(lead: Lead | int) -> Lead:
    pk = lead if isinstance(lead, int) else lead.pk
    try:
        # No join: a lock that waited on another claim sees the row as that claim left it,
        # but a joined owner as it was before (PostgreSQL re-reads only the locked row).
        return Lead.objects.select_for_update().get(pk=pk)
    except Lead.DoesNotExist:
        raise LeadNotFound(f"There is no lead {pk}.") from None


def _require_open(lead: Lead) -> None:
    if not lead.is_open:
        raise Conflict(f"This lead is {lead.get_status_display().lower()}: it is closed.")


def _require_owner_or_manager(lead: Lead, actor: User, doing: str) -> None:
    if lead.owner_id == actor.pk or is_manager(actor):
        return
    if lead.owner_id is None:
        raise Conflict(f"Claim this lead before you {doing} it.")
    raise PermissionDenied(
        f"{lead.owner.email} owns this lead: only they or a manager can {doing} it."
    )


def _record(lead: Lead, kind: str, actor: User | None, now: datetime, **data: object) -> None:
    LeadActivity.objects.create(lead=lead, kind=kind, actor=actor, at=now, data=data)


def _reason_clean(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise ApplicationError(
            f"Keep the reason to {REASON_MAX} characters or fewer.", field="reason"
        )
    return reason


# One lead -------------------------------------------------------------------------------------


@transaction.atomic
def lead_claim(*, lead: Lead | int, actor: User, now: datetime | None = None) -> Lead:
    """The acting rep takes the lead. Two reps claiming at once end with one owner: the other
    is told who has it."""
    _require_rep(actor)
    lead = _locked(lead)
    _require_open(lead)
    if lead.owner_id == actor.pk:
        return lead
    if lead.owner_id is not None:
        raise Conflict(f"{lead.owner.email} has already claimed this lead.")
    now = now or timezone.now()
    lead.owner = actor
    lead.save(update_fields=["owner"])
    _record(lead, LeadActivity.Kind.CLAIMED, actor, now, owner=actor.email)
    return lead


@transaction.atomic
def lead_assign(
    *, lead: Lead | int, owner: User | None, actor: User, now: datetime | None = None
) -> Lead:
    """A manager gives the lead to a rep (or to nobody)."""
    _require_rep(actor)
    if not is_manager(actor):
        raise PermissionDenied(ASSIGN_MESSAGE)
    if owner is not None and (not owner.is_active or not owner.has_perm(WORK)):
        raise Conflict(f"{owner.email} is not a sales rep.", field="owner")
    lead = _locked(lead)
    _require_open(lead)
    if lead.owner_id == (owner.pk if owner else None):
        return lead
    now = now or timezone.now()
    before = lead.owner.email if lead.owner else None
    lead.owner = owner
    lead.save(update_fields=["owner"])
    _record(
        lead,
        LeadActivity.Kind.ASSIGNED,
        actor,
        now,
        before=before,
        owner=owner.email if owner else None,
    )
    return lead


@transaction.atomic
def lead_release(*, lead: Lead | int, actor: User, now: datetime | None = None) -> Lead:
    """The owner (or a manager) hands the lead back to the queue, unowned."""
    _require_rep(actor)
    lead = _locked(lead)
    _require_open(lead)
    if lead.owner_id is None:
        return lead
    _require_owner_or_manager(lead, actor, "release")
    now = now or timezone.now()
    before = lead.owner.email
    lead.owner = None
    lead.save(update_fields=["owner"])
    _record(lead, LeadActivity.Kind.RELEASED, actor, now, before=before)
    return lead


@transaction.atomic
def lead_status_change(
    *,
    lead: Lead | int,
    status: str,
    actor: User,
    reason: str = "",
    now: datetime | None = None,
) -> Lead:
    """Move the lead forward, or close it as won, lost or disqualified with a reason."""
    _require_rep(actor)
    lead = _locked(lead)
    _require_open(lead)
    _require_owner_or_manager(lead, actor, "move")
    if status not in LeadStatus.values:
        raise ApplicationError(f"“{status}” is not a lead status.", field="status")
    if status == lead.status:
        return lead
    allowed = NEXT_STATUSES.get(lead.status, ())
    if status == LeadStatus.EXPIRED:
        raise Conflict(
            "A lead expires by itself when its workspace stops qualifying; close it as "
            "lost or disqualified instead.",
            field="status",
        )
    if status not in allowed:
        raise Conflict(
            f"A {lead.get_status_display().lower()} lead cannot go back to "
            f"{LeadStatus(status).label.lower()}; it can move to "
            f"{', '.join(LeadStatus(s).label.lower() for s in allowed)}.",
            field="status",
        )
    reason = _reason_clean(reason)
    if status in CLOSING and not reason:
        raise ApplicationError(
            f"Say why the lead is {LeadStatus(status).label.lower()}.", field="reason"
        )
    now = now or timezone.now()
    before = lead.status
    lead.status = status
    fields = ["status"]
    if status in CLOSING:
        lead.closed_at, lead.close_reason = now, reason
        fields += ["closed_at", "close_reason"]
        if status == LeadStatus.WON:
            lead.won_via = Lead.WonVia.SALES
            fields.append("won_via")
    lead.save(update_fields=fields)
    kind = {LeadStatus.WON: LeadActivity.Kind.WON, LeadStatus.LOST: LeadActivity.Kind.LOST}.get(
        status, LeadActivity.Kind.STATUS_CHANGED
    )
    _record(lead, kind, actor, now, before=before, after=status, reason=reason)
    events.leads_status_changed([events.StatusChange(lead, before, status, now, actor.pk, reason)])
    return lead


@transaction.atomic
def lead_contact_log(
    *,
    lead: Lead | int,
    actor: User,
    channel: str,
    summary: str = "",
    now: datetime | None = None,
) -> Lead:
    """Record a contact with the account. The first one stops the SLA clock, and a new or
    working lead becomes contacted."""
    _require_rep(actor)
    if channel not in CONTACT_CHANNELS:
        raise ApplicationError(
            f"Choose how you made contact: {', '.join(CONTACT_CHANNELS)}.", field="channel"
        )
    summary = (summary or "").strip()
    if len(summary) > NOTE_MAX:
        raise ApplicationError(f"Keep it to {NOTE_MAX:,} characters.", field="summary")
    lead = _locked(lead)
    _require_open(lead)
    _require_owner_or_manager(lead, actor, "log a contact on")
    now = now or timezone.now()
    fields = []
    before = lead.status
    if lead.first_contact_at is None:
        lead.first_contact_at = now
        fields.append("first_contact_at")
    if lead.status in (LeadStatus.NEW, LeadStatus.WORKING):
        lead.status = LeadStatus.CONTACTED
        fields.append("status")
    if fields:
        lead.save(update_fields=fields)
    _record(lead, LeadActivity.Kind.CONTACT, actor, now, channel=channel, summary=summary)
    events.leads_status_changed([events.StatusChange(lead, before, lead.status, now, actor.pk)])
    return lead


@transaction.atomic
def lead_note_add(
    *, lead: Lead | int, actor: User, text: str, now: datetime | None = None
) -> LeadActivity:
    """A note on the lead's timeline. Any rep may add one, owner or not."""
    _require_rep(actor)
    text = (text or "").strip()
    if not text:
        raise ApplicationError("Write the note first.", field="text")
    if len(text) > NOTE_MAX:
        raise ApplicationError(f"Keep a note to {NOTE_MAX:,} characters.", field="text")
    lead = _locked(lead)
    now = now or timezone.now()
    return LeadActivity.objects.create(
        lead=lead, kind=LeadActivity.Kind.NOTE, actor=actor, at=now, data={"text": text}
    )


@transaction.atomic
def lead_snooze(
    *, lead: Lead | int, actor: User, until: datetime | None, now: datetime | None = None
) -> Lead:
    """Hide the lead from the queue's default view until ``until`` (None wakes it now)."""
    _require_rep(actor)
    now = now or timezone.now()
    if until is not None and until <= now:
        raise ApplicationError("Snooze until a time in the future.", field="until")
    if until is not None and until > now + timedelta(days=366):
        raise ApplicationError("Snooze for a year at the most.", field="until")
    lead = _locked(lead)
    _require_open(lead)
    _require_owner_or_manager(lead, actor, "snooze")
    lead.snoozed_until = until
    lead.save(update_fields=["snoozed_until"])
    _record(lead, LeadActivity.Kind.SNOOZED, actor, now, until=until.isoformat() if until else None)
    return lead


# Bulk (managers) ------------------------------------------------------------------------------


def _bulk_ids(lead_ids: Iterable[object]) -> list[int]:
    try:
        ids = sorted({int(pk) for pk in lead_ids})
    except (TypeError, ValueError):
        raise ApplicationError("Choose leads by their numbers.", field="leads") from None
    if not ids:
        raise ApplicationError("Choose at least one lead.", field="leads")
    if len(ids) > 500:
        raise ApplicationError("Act on 500 leads at the most at once.", field="leads")
    return ids


@transaction.atomic
def leads_bulk_assign(
    *, lead_ids: Iterable[object], owner: User | None, actor: User, now: datetime | None = None
) -> int:
    """Assign many leads at once (managers); all or none. Returns how many changed."""
    ids = _bulk_ids(lead_ids)
    changed = 0
    for pk in ids:
        before = Lead.objects.filter(pk=pk).values_list("owner_id", flat=True).first()
        lead_assign(lead=pk, owner=owner, actor=actor, now=now)
        changed += before != (owner.pk if owner else None)
    return changed


@transaction.atomic
def leads_bulk_status(
    *,
    lead_ids: Iterable[object],
    status: str,
    actor: User,
    reason: str = "",
    now: datetime | None = None,
) -> int:
    """Move many leads at once (managers); all or none. Returns how many changed."""
    if not is_manager(actor):
        raise PermissionDenied("Only sales managers change leads in bulk.")
    ids = _bulk_ids(lead_ids)
    for pk in ids:
        lead_status_change(lead=pk, status=status, actor=actor, reason=reason, now=now)
    return len(ids)


# SLA and round robin --------------------------------------------------------------------------


def queue_settings() -> QueueSettings:
    """The queue's settings, or (before a manager first saves them) the defaults, unsaved:
    reading them never writes them."""
    return QueueSettings.objects.filter(pk=1).first() or QueueSettings(pk=1)


def working_hours(settings: QueueSettings | None = None) -> WorkingHours:
    settings = settings or queue_settings()
    return WorkingHours(
        days=frozenset(settings.work_days),
        starts=settings.day_starts,
        ends=settings.day_ends,
        zone=ZoneInfo(settings.time_zone),
    )


def sla_due(opened_at: datetime, settings: QueueSettings | None = None) -> datetime:
    """When a lead opened at ``opened_at`` is due for its first contact."""
    settings = settings or queue_settings()
    return working_hours_add(opened_at, settings.sla_hours, working_hours(settings))


def round_robin_reps(settings: QueueSettings | None = None) -> list[User]:
    """The reps who take new leads now, least loaded first: available, in the Sales group,
    with fewer open leads than their capacity, each with its ``room`` left (one query)."""
    if not (settings or queue_settings()).round_robin:
        return []
    reps = (
        SalesRep.objects.filter(available=True, user__is_active=True, user__groups__name=SALES)
        .annotate(
            open=Count("user__pql_leads", filter=Q(user__pql_leads__status__in=OPEN_LEAD_STATUSES))
        )
        .select_related("user")
        .order_by("open", "user__email")
    )
    users = []
    for rep in reps:
        if rep.open < rep.capacity:
            rep.user.room = rep.capacity - rep.open
            users.append(rep.user)
    return users


def _notify_after_commit(lead_id: int, kind: str) -> None:
    transaction.on_commit(lambda: lead_sla_notify.delay(lead_id, kind))


@transaction.atomic
def leads_sla_check(*, now: datetime | None = None) -> tuple[int, int]:
    """Warn the owner of each lead nearing its first-contact due time, and mark the leads
    that passed it, e-mailing the owner (the managers for an unowned lead): once each.
    Returns (warned, breached)."""
    now = now or timezone.now()
    settings = queue_settings()
    calendar = working_hours(settings)
    waiting = Lead.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        status__in=OPEN_LEAD_STATUSES, first_contact_at__isnull=True
    )
    breached = list(
        waiting.filter(sla_breached_at__isnull=True, sla_due_at__lte=now).select_related(
            "owner", "workspace"
        )
    )
    for lead in breached:
        lead.sla_breached_at = now
        _record(lead, LeadActivity.Kind.SLA_BREACHED, None, now, due=lead.sla_due_at.isoformat())
        _notify_after_commit(lead.pk, BREACHED)
    Lead.objects.bulk_update(breached, ["sla_breached_at"])
    events.leads_sla_breached(breached)
    at_risk = [
        lead
        for lead in waiting.filter(
            sla_warned_at__isnull=True, sla_breached_at__isnull=True, sla_due_at__gt=now
        ).select_related("owner", "workspace")
        if lead.owner is not None
        and working_hours_add(now, settings.at_risk_hours, calendar) >= lead.sla_due_at
    ]
    for lead in at_risk:
        lead.sla_warned_at = now
        _record(lead, LeadActivity.Kind.SLA_AT_RISK, None, now, due=lead.sla_due_at.isoformat())
        _notify_after_commit(lead.pk, AT_RISK)
    Lead.objects.bulk_update(at_risk, ["sla_warned_at"])
    return len(at_risk), len(breached)


# Saved views, reps and settings ----------------------------------------------------------------

SAVED_VIEWS_MAX = 50


@transaction.atomic
def saved_view_create(*, owner: User, name: str, query: str) -> SavedView:
    """Save the queue's query string under a name for its rep (a name used again replaces
    that view's query). The page marker is left out: a view starts at its first page."""
    _require_rep(owner)
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Name the view.", field="name")
    if len(name) > 80:
        raise ApplicationError("Keep the name to 80 characters or fewer.", field="name")
    pairs = [(k, v) for k, v in parse_qsl(query or "", keep_blank_values=False) if k != "after"]
    query = urlencode(pairs)
    if len(query) > 1000:
        raise ApplicationError("This view's filters are too long to save.", field="query")
    existing = SavedView.objects.select_for_update().filter(owner=owner, name=name).first()
    if existing is not None:
        existing.query = query
        existing.save(update_fields=["query"])
        return existing
    if SavedView.objects.filter(owner=owner).count() >= SAVED_VIEWS_MAX:
        raise Conflict(f"Keep {SAVED_VIEWS_MAX} saved views at the most: delete one first.")
    return SavedView.objects.create(owner=owner, name=name, query=query)


@transaction.atomic
def saved_view_delete(*, view_id: int, owner: User) -> None:
    """Delete one of the rep's own saved views (another rep's is not found)."""
    _require_rep(owner)
    deleted, _ = SavedView.objects.filter(pk=view_id, owner=owner).delete()
    if not deleted:
        raise LeadNotFound("There is no such saved view of yours.")


def _require_manager(actor: User) -> None:
    _require_rep(actor)
    if not is_manager(actor):
        raise PermissionDenied("Only sales managers set up the queue.")


@transaction.atomic
def queue_settings_update(
    *,
    actor: User,
    sla_hours: int,
    work_days: Iterable[int],
    day_starts: time,
    day_ends: time,
    time_zone: str,
    at_risk_hours: int,
    round_robin: bool,
) -> QueueSettings:
    """A manager changes how the queue runs. Due times of open leads stay as they were
    computed when they opened."""
    _require_manager(actor)
    days = sorted({int(day) for day in work_days})
    if not days or any(not 0 <= day <= 6 for day in days):
        raise ApplicationError("Choose at least one working day.", field="work_days")
    if day_starts >= day_ends:
        raise ApplicationError("The working day must end after it starts.", field="day_ends")
    if not 1 <= sla_hours <= 1000:
        raise ApplicationError("The SLA is 1 to 1,000 working hours.", field="sla_hours")
    if at_risk_hours >= sla_hours:
        raise ApplicationError(
            "A lead is at risk for fewer hours than the whole SLA.", field="at_risk_hours"
        )
    try:
        ZoneInfo(time_zone)
    except (ValueError, KeyError):
        raise ApplicationError(f"“{time_zone}” is not a time zone.", field="time_zone") from None
    settings = QueueSettings.objects.select_for_update().get_or_create(pk=1)[0]
    settings.sla_hours, settings.work_days = sla_hours, days
    settings.day_starts, settings.day_ends = day_starts, day_ends
    settings.time_zone, settings.at_risk_hours = time_zone, at_risk_hours
    settings.round_robin = round_robin
    settings.full_clean()
    settings.save()
    return settings


@transaction.atomic
def sales_rep_set(*, actor: User, user: User, available: bool, capacity: int) -> SalesRep:
    """A manager sets whether a rep takes round-robin leads, and how many at most."""
    _require_manager(actor)
    if not user.is_active or not user.groups.filter(name=SALES).exists():
        raise ApplicationError(f"{user.email} is not in the Sales group.", field="user")
    if not 0 <= capacity <= 1000:
        raise ApplicationError("Capacity is 0 to 1,000 open leads.", field="capacity")
    rep, _ = SalesRep.objects.update_or_create(
        user=user, defaults={"available": available, "capacity": capacity}
    )
    return rep
