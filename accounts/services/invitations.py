"""Invitations: inviting, resending, revoking and accepting."""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict, PermissionDenied, UnknownToken
from accounts.locks import workspace_lock
from accounts.models import (
    AuditEvent,
    Invitation,
    InvitationStatus,
    Membership,
    OnboardingStep,
    Role,
    User,
    Workspace,
)
from accounts.plan import plan_policy
from accounts.services._common import _acting_membership, _role_check
from accounts.services.memberships import membership_create
from accounts.services.onboarding import onboarding_step_complete
from accounts.services.users import user_create
from accounts.tasks import invitation_send
from accounts.tokens import hash_secret


def _invitation_expiry(now: datetime) -> datetime:
    return now + timedelta(days=settings.HANDOFF_INVITATION_TTL_DAYS)


def _send_invitation_after_commit(invitation: Invitation, token: str) -> None:
    # The token is a secret: worker logs and monitoring show the task's arguments through
    # argsrepr, without it.
    transaction.on_commit(
        lambda: invitation_send.apply_async(
            (invitation.pk, token), argsrepr=f"({invitation.pk}, '[redacted]')"
        )
    )


def invitation_create(
    *,
    workspace: Workspace,
    email: str,
    role: Role | str = Role.MEMBER,
    actor: User,
    now: datetime | None = None,
) -> tuple[Invitation, str]:
    """Invite an e-mail address; returns the invitation and the link's token (sent by e-mail,
    stored only hashed). An expired open invitation to the same address is renewed.

    A pending invitation holds a seat: inviting needs a free seat beyond the members and the
    other pending invitations."""
    with plan_policy().paywall_hits_recorded(user_email=actor.email):
        return _invitation_create(workspace=workspace, email=email, role=role, actor=actor, now=now)


@transaction.atomic
def _invitation_create(
    *, workspace: Workspace, email: str, role: str, actor: User, now: datetime | None
) -> tuple[Invitation, str]:
    now = now or timezone.now()
    email = User.objects.normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ApplicationError("Enter a valid e-mail address.", field="email") from exc
    _role_check(role)
    workspace = workspace_lock(workspace)
    acting = _acting_membership(workspace=workspace, actor=actor)
    if role == Role.OWNER and acting.role != Role.OWNER:
        raise PermissionDenied("Only an owner can invite another owner.", field="role")
    if Membership.objects.filter(workspace=workspace, user__email=email).exists():
        raise Conflict(f"{email} is already a member of this workspace.", field="email")
    open_invitation = (
        Invitation.objects.select_for_update()
        .filter(workspace=workspace, email=email, accepted_at=None, revoked_at=None)
        .first()
    )
    if open_invitation is not None:
        if open_invitation.status(now) == InvitationStatus.PENDING:
            raise Conflict(
                f"{email} already has a pending invitation: resend it instead.", field="email"
            )
        plan_policy().limit_enforce(
            workspace, "seats", 1
        )  # the expired invitation no longer held a seat
        open_invitation.role = role
        open_invitation.save(update_fields=["role", "updated_at"])
        return open_invitation, _invitation_renew(invitation=open_invitation, actor=actor, now=now)

    plan_policy().limit_enforce(workspace, "seats", 1)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email,
        role=role,
        token_hash=hash_secret(token),
        invited_by=actor,
        sent_at=now,
        expires_at=_invitation_expiry(now),
        created_at=now,
    )
    audit_record(
        action=AuditEvent.Action.INVITATION_SENT,
        workspace=workspace,
        actor=actor,
        subject=email,
        after={"role": role},
        now=now,
    )
    onboarding_step_complete(workspace=workspace, step=OnboardingStep.Key.INVITE_TEAMMATE, now=now)
    _send_invitation_after_commit(invitation, token)
    return invitation, token


def _invitation_renew(*, invitation: Invitation, actor: User, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_hash = hash_secret(token)
    invitation.sent_at = now
    invitation.expires_at = _invitation_expiry(now)
    invitation.save(update_fields=["token_hash", "sent_at", "expires_at", "updated_at"])
    audit_record(
        action=AuditEvent.Action.INVITATION_RESENT,
        workspace=invitation.workspace,
        actor=actor,
        subject=invitation.email,
        now=now,
    )
    _send_invitation_after_commit(invitation, token)
    return token


def _invitation_lock(invitation: Invitation) -> Invitation:
    """Lock the workspace row, then the invitation (the same order as every membership
    change, so two of them never wait on each other)."""
    workspace_lock(invitation.workspace)
    return (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("workspace")
        .get(pk=invitation.pk)
    )


def _invitation_require_open(invitation: Invitation, now: datetime) -> None:
    if not invitation.is_open:
        raise Conflict(f"This invitation was already {invitation.status(now).label.lower()}.")


def invitation_resend(*, invitation: Invitation, actor: User, now: datetime | None = None) -> str:
    """Send an open invitation again with a new link and a new expiry; the old link stops
    working. An expired invitation held no seat, so renewing it needs a free seat."""
    with plan_policy().paywall_hits_recorded(user_email=actor.email):
        return _invitation_resend(invitation=invitation, actor=actor, now=now or timezone.now())


@transaction.atomic
def _invitation_resend(*, invitation: Invitation, actor: User, now: datetime) -> str:
    invitation = _invitation_lock(invitation)
    _acting_membership(workspace=invitation.workspace, actor=actor)
    _invitation_require_open(invitation, now)
    if invitation.status(now) == InvitationStatus.EXPIRED:
        plan_policy().limit_enforce(invitation.workspace, "seats", 1)
    return _invitation_renew(invitation=invitation, actor=actor, now=now)


@transaction.atomic
def invitation_revoke(
    *, invitation: Invitation, actor: User, now: datetime | None = None
) -> Invitation:
    """Revoke an open invitation; its link stops working."""
    now = now or timezone.now()
    invitation = _invitation_lock(invitation)
    _acting_membership(workspace=invitation.workspace, actor=actor)
    _invitation_require_open(invitation, now)
    invitation.revoked_at = now
    invitation.save(update_fields=["revoked_at", "updated_at"])
    audit_record(
        action=AuditEvent.Action.INVITATION_REVOKED,
        workspace=invitation.workspace,
        actor=actor,
        subject=invitation.email,
        now=now,
    )
    return invitation


_CLOSED_INVITATION_MESSAGES = {
    InvitationStatus.ACCEPTED: "This invitation has already been used.",
    InvitationStatus.REVOKED: "This invitation was revoked. Ask the workspace for a new one.",
    InvitationStatus.EXPIRED: "This invitation has expired. Ask the workspace to resend it.",
}


def _invitation_require_acceptable(invitation: Invitation, now: datetime) -> None:
    message = _CLOSED_INVITATION_MESSAGES.get(invitation.status(now))
    if message:
        raise Conflict(message)


def invitation_check(*, token: str, now: datetime | None = None) -> Invitation:
    """The invitation a link's token opens, if it can still be accepted; else a clear error."""
    invitation = (
        Invitation.objects.select_related("workspace").filter(token_hash=hash_secret(token)).first()
    )
    if invitation is None:
        raise UnknownToken(
            "This invitation link is not valid. It may have been resent: use the newest e-mail."
        )
    _invitation_require_acceptable(invitation, now or timezone.now())
    return invitation


def invitation_accept(*, token: str, user: User, now: datetime | None = None) -> Membership:
    """Accept an invitation as ``user`` (who must own the invited address): the user becomes
    a member with the invited role, and the invitation is used up."""
    with plan_policy().paywall_hits_recorded(user_email=user.email):
        return _invitation_accept(token=token, user=user, now=now)


@transaction.atomic
def _invitation_accept(*, token: str, user: User, now: datetime | None) -> Membership:
    now = now or timezone.now()
    invitation = _invitation_lock(invitation_check(token=token, now=now))
    _invitation_require_acceptable(invitation, now)  # again, now that the row is locked
    if invitation.email != user.email:
        raise PermissionDenied(
            f"This invitation is for {invitation.email}; you are logged in as {user.email}."
        )
    membership = membership_create(
        workspace=invitation.workspace, user=user, role=invitation.role, actor=user, now=now
    )
    invitation.accepted_at = now
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    audit_record(
        action=AuditEvent.Action.INVITATION_ACCEPTED,
        workspace=invitation.workspace,
        actor=user,
        subject=user.email,
        after={"role": invitation.role},
        now=now,
    )
    return membership


def invitation_accept_as_new_user(
    *, token: str, password: str, full_name: str = "", now: datetime | None = None
) -> Membership:
    """Accept an invitation by creating the account for the invited address (no account is
    left behind when joining is refused)."""
    invitation = invitation_check(token=token, now=now)
    with plan_policy().paywall_hits_recorded(user_email=invitation.email), transaction.atomic():
        user = user_create(email=invitation.email, password=password, full_name=full_name)
        return _invitation_accept(token=token, user=user, now=now)
