"""Acme Analytics, the demo owner's workspace: teammates, a pending invitation, API keys."""

from collections.abc import Callable
from datetime import datetime, timedelta

from accounts import services
from accounts.demo.logins import DEMO_OWNER, demo_logins_reset
from accounts.models import (
    Invitation,
    InvitationStatus,
    Membership,
    OnboardingStep,
    Role,
    User,
    Workspace,
)

DEMO_API_KEY_NAME = "Demo key (seed_demo)"


DEMO_WORKSPACE_NAME = "Acme Analytics"
DEMO_WORKSPACE_DOMAIN = "acme-analytics.com"
# Acme's story, in days after its sign-up: teammates joining, a first API key.
_ACME_AGE = timedelta(days=45)
_ACME_FIRST_KEY_AFTER = timedelta(hours=3)
_ACME_TEAMMATES = (
    ("Priya Natarajan", "priya", Role.ADMIN, timedelta(days=1)),
    ("Tom Becker", "tom", Role.MEMBER, timedelta(days=2)),
    ("Lena Fischer", "lena", Role.MEMBER, timedelta(days=9)),
    ("Marcus Webb", "marcus", Role.MEMBER, timedelta(days=23)),
)
_ACME_INVITEE = "dana@acme-analytics.com"


def _acme_find(owner: User) -> Workspace | None:
    """The demo owner's demo workspace, whatever it was renamed to since. A database seeded
    before workspaces were marked as demo has it unmarked: the demo log-in's workspace
    under the documented name is Acme, and is marked now."""
    live = Workspace.objects.filter(created_by=owner, deleted_at__isnull=True)
    workspace = live.filter(is_demo=True, company_domain=DEMO_WORKSPACE_DOMAIN).first()
    if workspace is None:
        workspace = live.filter(
            name=DEMO_WORKSPACE_NAME, company_domain=DEMO_WORKSPACE_DOMAIN
        ).first()
        if workspace is not None:
            Workspace.objects.filter(pk=workspace.pk).update(is_demo=True)
            workspace.is_demo = True
    return workspace


def _acme_get_or_create(
    *, owner: User, now: datetime, on_created: Callable[[Workspace], None]
) -> Workspace:
    """Acme Analytics as the owner created it, marked as a demo workspace; on its first
    creation it gets a past sign-up date and a first API key three hours later (its
    activation)."""
    workspace = _acme_find(owner)
    if workspace is not None:
        membership = Membership.objects.filter(workspace=workspace, user=owner).first()
        if membership is None:
            services.membership_create(workspace=workspace, user=owner, role=Role.OWNER)
        elif membership.role != Role.OWNER:
            membership.role = Role.OWNER  # adds an owner: no invariant to check
            membership.save(update_fields=["role", "updated_at"])
        return workspace

    signed_up_at = now - _ACME_AGE
    workspace = services.workspace_create(
        name=DEMO_WORKSPACE_NAME,
        owner=owner,
        company_domain=DEMO_WORKSPACE_DOMAIN,
        time_zone="Europe/Berlin",
        now=signed_up_at,
    )
    Workspace.objects.filter(pk=workspace.pk).update(is_demo=True)
    workspace.is_demo = True
    User.objects.filter(pk=owner.pk, date_joined__gt=signed_up_at).update(date_joined=signed_up_at)
    on_created(workspace)  # a growing team on Pro: the teammates and the invitation fit
    services.api_key_create(
        workspace=workspace,
        name="Production",
        actor=owner,
        now=signed_up_at + _ACME_FIRST_KEY_AFTER,
    )
    return workspace


def _acme_teammates_add(*, workspace: Workspace, owner: User) -> None:
    """The documented teammates (an admin and members), re-added if missing."""
    signed_up_at = workspace.created_at
    emails = [f"{local}@{DEMO_WORKSPACE_DOMAIN}" for _, local, _, _ in _ACME_TEAMMATES]
    members = set(
        Membership.objects.filter(workspace=workspace, user__email__in=emails).values_list(
            "user__email", flat=True
        )
    )
    if len(members) == len(emails):
        return
    first_join = signed_up_at + min(after for *_, after in _ACME_TEAMMATES)
    services.onboarding_step_complete(
        workspace=workspace,
        step=OnboardingStep.Key.INVITE_TEAMMATE,
        now=first_join - timedelta(hours=2),
    )
    for (full_name, _, role, after), email in zip(_ACME_TEAMMATES, emails, strict=True):
        if email in members:
            continue
        user = User.objects.filter(email=email).first()
        if user is None:  # teammates never log in: no password
            user = User.objects.create_user(
                email=email, password=None, full_name=full_name, date_joined=signed_up_at + after
            )
        services.membership_create(
            workspace=workspace, user=user, role=role, actor=owner, now=signed_up_at + after
        )


def _acme_invitation_keep_pending(*, workspace: Workspace, owner: User, now: datetime) -> None:
    """One pending invitation: created if there is none, renewed once it has expired, left
    alone once the invitee has joined."""
    if Membership.objects.filter(workspace=workspace, user__email=_ACME_INVITEE).exists():
        return
    invitation = Invitation.objects.filter(
        workspace=workspace, email=_ACME_INVITEE, accepted_at=None, revoked_at=None
    ).first()
    if invitation is not None and invitation.status(now) == InvitationStatus.PENDING:
        return
    services.invitation_create(
        workspace=workspace, email=_ACME_INVITEE, role=Role.MEMBER, actor=owner, now=now
    )


def seed_demo_owner(
    *, now: datetime, on_created: Callable[[Workspace], None]
) -> tuple[User, Workspace]:
    """The demo owner's log-in and its workspace Acme Analytics (domain acme-analytics.com),
    with an admin, members and one pending invitation. ``on_created`` puts a newly created
    Acme on its plan (billing's step: ``billing.demo.acme_plan_seed``) before its team joins."""
    owner = demo_logins_reset(logins=[DEMO_OWNER])[DEMO_OWNER.email]
    workspace = _acme_get_or_create(owner=owner, now=now, on_created=on_created)
    _acme_teammates_add(workspace=workspace, owner=owner)
    _acme_invitation_keep_pending(workspace=workspace, owner=owner, now=now)
    return owner, workspace


def demo_api_key_create(*, workspace: Workspace, owner: User) -> str:
    """A new API key for the demo workspace; returns the full key (it is shown only once).
    Earlier demo keys stay active, so a key pasted into a script keeps working."""
    _, raw_key = services.api_key_create(workspace=workspace, name=DEMO_API_KEY_NAME, actor=owner)
    return raw_key
