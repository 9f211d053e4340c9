"""Reads of accounts data. Tenancy is enforced here: every workspace-scoped page or API
starts from ``workspace_membership_get`` (a user) or an authenticated API key, and looks up
what it shows through the workspace it got back, so anything of another workspace is a 404.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from django.db.models import Count, F, Max, Q, QuerySet, Window
from django.db.models.functions import RowNumber, TruncDate
from django.http import Http404
from django.utils import timezone

from accounts.free_mail import is_free_mail
from accounts.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    OnboardingStep,
    Project,
    UseCase,
    User,
    Workspace,
    WorkspaceFormerSlug,
)

# Where the tenancy lookup leaves the user's memberships for the rest of the request (the
# workspace switcher), so showing them costs no query.
_MEMBERSHIPS_SEEN = "_handoff_memberships"


def _membership_or_404(user: User, **workspace: object) -> Membership:
    """The acting user's membership of one workspace; 404 when the user is not a member
    (whether or not the workspace exists, so nothing leaks). Reads all of the user's
    memberships in the same one query, for the workspace switcher."""
    if not user.is_authenticated:
        raise Http404("No such workspace.")
    memberships = list(user_memberships(user=user))
    setattr(user, _MEMBERSHIPS_SEEN, memberships)
    membership = next(
        (
            m
            for m in memberships
            if all(getattr(m.workspace, key) == value for key, value in workspace.items())
        ),
        None,
    )
    if membership is None:
        raise Http404("No such workspace.")
    return membership


def user_memberships_seen(*, user: User) -> list[Membership] | None:
    """The user's memberships if this request has read them already (the tenancy lookup
    or the home page did), else None: the switcher then links to the list instead."""
    return getattr(user, _MEMBERSHIPS_SEEN, None)


def user_memberships_remember(*, user: User, memberships: list[Membership]) -> None:
    setattr(user, _MEMBERSHIPS_SEEN, memberships)


def workspace_former_slug_redirect(*, user: User, workspace_slug: str) -> str | None:
    """The current slug of the workspace that used to have ``workspace_slug``, when the
    user is a member of it; None otherwise (for anyone else an old slug is a 404, like
    any other workspace they are not in)."""
    if not user.is_authenticated:
        return None
    return (
        WorkspaceFormerSlug.objects.filter(slug=workspace_slug, workspace__memberships__user=user)
        .values_list("workspace__slug", flat=True)
        .first()
    )


def workspace_membership_get(*, user: User, workspace_slug: str) -> Membership:
    """The tenancy rule for pages addressed by slug: the user's membership, or 404."""
    return _membership_or_404(user, slug=workspace_slug)


def workspace_membership_get_for_id(*, user: User, workspace_id: object) -> Membership:
    """The same rule for an object that names its workspace by id (a billing object's
    metadata, say): the user's membership, or 404. A malformed id is a 404 too."""
    try:
        pk = int(workspace_id)
    except (TypeError, ValueError):
        raise Http404("No such workspace.") from None
    return _membership_or_404(user, pk=pk)


def _get_in_workspace[M](queryset: QuerySet[M], *, workspace: Workspace, pk: int) -> M:
    obj = queryset.filter(workspace=workspace, pk=pk).first()
    if obj is None:
        raise Http404(f"No such {queryset.model._meta.verbose_name} in this workspace.")
    return obj


def workspace_membership_get_by_id(*, workspace: Workspace, membership_id: int) -> Membership:
    return _get_in_workspace(
        Membership.objects.select_related("user"), workspace=workspace, pk=membership_id
    )


def workspace_invitation_get(*, workspace: Workspace, invitation_id: int) -> Invitation:
    return _get_in_workspace(Invitation.objects.all(), workspace=workspace, pk=invitation_id)


def workspace_api_key_get(*, workspace: Workspace, api_key_id: int) -> ApiKey:
    return _get_in_workspace(ApiKey.objects.all(), workspace=workspace, pk=api_key_id)


def workspace_project_get(*, workspace: Workspace, project_id: int) -> Project:
    return _get_in_workspace(Project.objects.all(), workspace=workspace, pk=project_id)


def workspace_members(*, workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user")


def workspace_open_invitations(*, workspace: Workspace) -> QuerySet[Invitation]:
    """Invitations neither accepted nor revoked (expired ones included, to resend)."""
    return Invitation.objects.filter(
        workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True
    ).select_related("invited_by")


def workspace_audit_events(*, workspace: Workspace) -> QuerySet[AuditEvent]:
    """The workspace's audit log, newest first."""
    return (
        AuditEvent.objects.filter(workspace=workspace)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def workspace_api_keys(*, workspace: Workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(workspace=workspace).select_related("created_by")


def user_memberships(*, user: User) -> QuerySet[Membership]:
    """The user's workspaces, by name."""
    return (
        Membership.objects.filter(user=user)
        .select_related("workspace")
        .order_by("workspace__name", "workspace_id")
    )


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    completed_at: datetime | None
    is_activation: bool


@dataclass(frozen=True)
class Checklist:
    items: list[ChecklistItem]
    activated_at: datetime | None

    @property
    def done(self) -> int:
        return sum(1 for item in self.items if item.completed_at)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


# The checklist step shown first for each answer to "what will you use Handoff for?"; the
# other steps follow in their usual order. Without an answer (or "just exploring") the
# usual order stands: invite a teammate, create an API key, send a first usage event.
CHECKLIST_FIRST_STEP = {
    UseCase.METERING: OnboardingStep.Key.CREATE_API_KEY,  # metering starts with a key
    UseCase.TEAM: OnboardingStep.Key.INVITE_TEAMMATE,
    UseCase.SALES: OnboardingStep.Key.FIRST_USAGE_EVENT,  # scoring needs usage to read
}


def checklist_steps(*, use_case: str) -> list[str]:
    """The checklist's step keys in the order shown for ``use_case``."""
    steps = list(OnboardingStep.Key.values)
    first = CHECKLIST_FIRST_STEP.get(use_case)
    if first is not None:
        steps.remove(first)
        steps.insert(0, first)
    return steps


def onboarding_checklist(*, workspace: Workspace, activation_step: str) -> Checklist:
    """Every checklist step with when the workspace first completed it, the step its use
    case starts with first (``CHECKLIST_FIRST_STEP``)."""
    completed = dict(
        OnboardingStep.objects.filter(workspace=workspace).values_list("key", "completed_at")
    )
    labels = dict(OnboardingStep.Key.choices)
    items = [
        ChecklistItem(
            key=key,
            label=labels[key],
            completed_at=completed.get(key),
            is_activation=key == activation_step,
        )
        for key in checklist_steps(use_case=workspace.use_case)
    ]
    return Checklist(items=items, activated_at=workspace.activated_at)


def workspace_member_count(*, workspace_id: int) -> int:
    return Membership.objects.filter(workspace_id=workspace_id).count()


def workspace_pending_invitations(*, workspace_id: int, now: datetime | None = None):
    """Open invitations that can still be accepted: they hold a seat."""
    return Invitation.objects.filter(
        workspace_id=workspace_id,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now or timezone.now(),
    )


def workspace_seats_used(*, workspace_id: int, now: datetime | None = None) -> int:
    """Members plus pending invitations: the seats the workspace holds."""
    return workspace_member_count(workspace_id=workspace_id) + (
        workspace_pending_invitations(workspace_id=workspace_id, now=now).count()
    )


def workspace_project_count(*, workspace_id: int) -> int:
    return Project.objects.filter(workspace_id=workspace_id).count()


def workspace_projects(*, workspace: Workspace) -> QuerySet[Project]:
    return Project.objects.filter(workspace=workspace).select_related("created_by")


# Every workspace at once (PQL scoring) ----------------------------------------------------


def workspace_pk_ranges(*, size: int) -> list[tuple[int, int]]:
    """Contiguous primary-key ranges ``[pk_from, pk_to)``, in order, that together cover every
    live (not deleted) workspace, each holding at most ``size`` of them: the chunks a job
    over all workspaces splits its work into. One query (row numbers over the ordered
    pks)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    starts = (
        Workspace.objects.filter(deleted_at__isnull=True)
        .annotate(
            position=Window(RowNumber(), order_by=F("pk").asc()),
            last=Window(Max("pk")),
        )
        .annotate(offset=(F("position") - 1) % size)
        .filter(offset=0)
        .order_by("pk")
        .values_list("pk", "last")
    )
    rows = list(starts)
    if not rows:
        return []
    bounds = [pk for pk, _ in rows] + [rows[0][1] + 1]
    return list(pairwise(bounds))


@dataclass(frozen=True)
class WorkspaceProfile:
    """Who a workspace is (fit signals for scoring) and how its team grows."""

    workspace_id: int
    name: str
    company_domain: str
    free_mail: bool  # signed up with a free-mail address (no company domain known)
    team_size: str
    use_case: str
    signup_source: dict
    time_zone: str
    created_at: datetime
    activated_at: datetime | None
    is_demo: bool
    members: int
    seats_used: int  # members plus pending invitations, as ``workspace_seats_used``
    invitations_sent_30d: int
    invitations_accepted_30d: int


def workspace_profiles(
    *, pk_from: int, pk_to: int, now: datetime, daily_cap: int | None = None
) -> dict[int, WorkspaceProfile]:
    """Every live workspace with a primary key in ``[pk_from, pk_to)``, with or without
    activity, as of ``now`` (members who joined and invitations sent by then). ``free_mail``:
    the company domain, or else the creator's address's domain, is a free-mail provider (or
    there is none). With ``daily_cap``, a day counts at most that many invitations sent, so
    one person inviting in bulk cannot make a lead. Four queries whatever the number."""
    in_range = Q(workspace_id__gte=pk_from, workspace_id__lt=pk_to)
    members = dict(
        Membership.objects.filter(in_range, created_at__lte=now)
        .values("workspace_id")
        .annotate(n=Count("id"))
        .values_list("workspace_id", "n")
        .order_by()
    )
    since = now - timedelta(days=30)
    sent: dict[int, int] = {}
    for row in (
        Invitation.objects.filter(in_range, sent_at__gte=since, sent_at__lte=now)
        .values("workspace_id", day=TruncDate("sent_at"))
        .annotate(n=Count("id"))
        .order_by()
    ):
        n = row["n"] if daily_cap is None else min(row["n"], daily_cap)
        sent[row["workspace_id"]] = sent.get(row["workspace_id"], 0) + n
    invitations = {
        row["workspace_id"]: row
        for row in Invitation.objects.filter(in_range, created_at__lte=now)
        .values("workspace_id")
        .annotate(
            pending=Count(
                "id",
                filter=Q(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now),
            ),
            accepted=Count("id", filter=Q(accepted_at__gte=since, accepted_at__lte=now)),
        )
        .order_by()
    }
    profiles = {}
    # Tuples, not model instances: this reads every workspace of the range.
    for (
        workspace_id,
        name,
        company_domain,
        creator_email,
        team_size,
        use_case,
        signup_source,
        time_zone,
        created_at,
        activated_at,
        is_demo,
    ) in (
        Workspace.objects.filter(
            pk__gte=pk_from, pk__lt=pk_to, deleted_at__isnull=True, created_at__lte=now
        )
        .order_by("pk")
        .values_list(
            "pk",
            "name",
            "company_domain",
            "created_by__email",
            "team_size",
            "use_case",
            "signup_source",
            "time_zone",
            "created_at",
            "activated_at",
            "is_demo",
        )
    ):
        domain = company_domain or (creator_email or "").rpartition("@")[2]
        invited = invitations.get(workspace_id)
        count = members.get(workspace_id, 0)
        profiles[workspace_id] = WorkspaceProfile(
            workspace_id=workspace_id,
            name=name,
            company_domain=company_domain,
            free_mail=not domain or is_free_mail(domain),
            team_size=team_size,
            use_case=use_case,
            signup_source=signup_source,
            time_zone=time_zone,
            created_at=created_at,
            activated_at=activated_at,
            is_demo=is_demo,
            members=count,
            seats_used=count + (invited["pending"] if invited else 0),
            invitations_sent_30d=sent.get(workspace_id, 0),
            invitations_accepted_30d=invited["accepted"] if invited else 0,
        )
    return profiles


def workspaces_seats_used(*, workspace_ids: Collection[int], now: datetime) -> dict[int, int]:
    """Members plus pending invitations of a page of workspaces (two queries), as
    ``workspace_seats_used`` counts them one at a time."""
    ids = list(workspace_ids)
    seats = dict.fromkeys(ids, 0)
    pending = Invitation.objects.filter(
        workspace_id__in=ids, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    )
    for queryset in (Membership.objects.filter(workspace_id__in=ids), pending):
        for workspace_id, n in (
            queryset.values("workspace_id").annotate(n=Count("id")).values_list("workspace_id", "n")
        ):
            seats[workspace_id] += n
    return seats


def workspace_ids_matching(*, q: str, limit: int) -> list[int] | None:
    """The ids of the workspaces with ``q`` in their name or company domain
    (case-insensitive), or None when more than ``limit`` match; reads at most ``limit`` + 1
    (on PostgreSQL through trigram indexes, pql migration 0007)."""
    matching = Workspace.objects.filter(Q(name__icontains=q) | Q(company_domain__icontains=q))
    ids = list(matching.order_by().values_list("id", flat=True)[: limit + 1])
    return None if len(ids) > limit else ids


def group_members(*, group: str) -> QuerySet[User]:
    """The active users in a staff group (by its name), by e-mail."""
    return User.objects.filter(is_active=True, groups__name=group).order_by("email").distinct()


def workspace_invitations(*, workspace_id: int, limit: int = 50) -> list[Invitation]:
    """The workspace's invitations, newest first (open, accepted, revoked or expired)."""
    return list(
        Invitation.objects.filter(workspace_id=workspace_id)
        .select_related("invited_by")
        .order_by("-sent_at", "-id")[:limit]
    )
