"""Every write to accounts: sign-up, workspaces, memberships, invitations, API keys.

Role rules live here, not in views: owners and admins manage the workspace; only an owner
can grant, change or remove the owner role; a workspace always keeps at least one owner.
Changes that touch memberships lock the workspace row first, so concurrent changes to one
workspace run one after the other.
"""

import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict, PermissionDenied
from accounts.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    InvitationStatus,
    Membership,
    OnboardingStep,
    Project,
    Role,
    User,
    Workspace,
    validate_time_zone,
)
from accounts.tasks import invitation_send
from accounts.tokens import hash_secret
from billing import services as billing_services
from usage import services as usage_services
from usage.limits import limit_enforce, paywall_hits_recorded
from usage.selectors import activation_rule

API_KEY_PREFIX = "hk"

# Mail providers whose domain says nothing about the company a person works for.
PERSONAL_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "aol.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "yandex.ru",
        "mail.ru",
        "fastmail.com",
        "hey.com",
    }
)


def _lock_workspace(workspace: Workspace) -> Workspace:
    """Lock the workspace row; every membership change takes this lock first."""
    return Workspace.objects.select_for_update().get(pk=workspace.pk)


def _acting_membership(*, workspace: Workspace, actor: User) -> Membership:
    """The actor's membership, required to be owner or admin."""
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    if membership is None or not membership.can_manage:
        raise PermissionDenied("Only the workspace's owners and admins can do this.")
    return membership


# Users and sign-up ------------------------------------------------------------------------


def user_create(*, email: str, password: str, full_name: str = "") -> User:
    """Create a user after checking the e-mail (format, unused in any letter case) and the
    password (Django's validators)."""
    email = User.objects.normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ApplicationError("Enter a valid e-mail address.", field="email") from exc
    if User.objects.filter(email=email).exists():
        raise Conflict("An account with this e-mail address already exists.", field="email")
    candidate = User(email=email, full_name=full_name)
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), field="password") from exc
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, full_name=full_name)
    except IntegrityError as exc:  # a concurrent sign-up with the same address won the race
        raise Conflict(
            "An account with this e-mail address already exists.", field="email"
        ) from exc


def company_domain_from_email(email: str) -> str:
    """The company's domain from a work address; empty for personal mail providers."""
    domain = email.rpartition("@")[2].lower()
    return "" if domain in PERSONAL_EMAIL_DOMAINS else domain


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50].strip("-") or "workspace"
    slug = base
    while Workspace.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def workspace_create(
    *,
    name: str,
    owner: User,
    company_domain: str | None = None,
    time_zone: str = "UTC",
    now: datetime | None = None,
) -> Workspace:
    """Create a workspace with ``owner`` as its first owner."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the workspace a name.", field="workspace_name")
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        raise ApplicationError(exc.messages[0], field="time_zone") from exc
    now = now or timezone.now()
    workspace = Workspace.objects.create(
        name=name[:100],
        slug=_unique_slug(name),
        company_domain=(
            company_domain_from_email(owner.email) if company_domain is None else company_domain
        ),
        time_zone=time_zone,
        created_by=owner,
        created_at=now,
    )
    audit_record(
        action=AuditEvent.Action.WORKSPACE_CREATED,
        workspace=workspace,
        actor=owner,
        subject=workspace.slug,
        after={"name": workspace.name},
        now=now,
    )
    billing_services.subscription_create_free(workspace=workspace)
    membership_create(workspace=workspace, user=owner, role=Role.OWNER, actor=owner, now=now)
    return workspace


@transaction.atomic
def user_sign_up(
    *, email: str, password: str, workspace_name: str = "", time_zone: str = "UTC"
) -> tuple[User, Workspace]:
    """Self-serve sign-up: a new user and a new workspace they own, or nothing at all."""
    user = user_create(email=email, password=password)
    if not workspace_name.strip():
        domain = company_domain_from_email(user.email)
        workspace_name = domain.split(".")[0].title() if domain else user.email.split("@")[0]
    workspace = workspace_create(name=workspace_name, owner=user, time_zone=time_zone)
    return user, workspace


# Memberships ------------------------------------------------------------------------------


@transaction.atomic
def membership_create(
    *,
    workspace: Workspace,
    user: User,
    role: Role | str = Role.MEMBER,
    actor: User | None = None,
    now: datetime | None = None,
) -> Membership:
    """The one way a membership comes to exist, and where the seat limit holds: members
    may not outnumber the seats (pending invitations are not counted here: an invitation
    being accepted held its seat). Locks the workspace row, so the seat count read here
    includes every concurrent addition."""
    if role not in Role.values:
        raise ApplicationError("Choose a role: owner, admin or member.", field="role")
    workspace = _lock_workspace(workspace)
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise Conflict(f"{user.email} is already a member of {workspace.name}.", field="email")
    members = Membership.objects.filter(workspace=workspace).count()
    limit_enforce(workspace, "seats", 1, used=members)
    now = now or timezone.now()
    membership = Membership.objects.create(
        workspace=workspace, user=user, role=role, created_at=now
    )
    audit_record(
        action=AuditEvent.Action.MEMBER_ADDED,
        workspace=workspace,
        actor=actor,
        subject=user.email,
        after={"role": role},
        now=now,
    )
    return membership


def _owner_count(workspace: Workspace) -> int:
    return Membership.objects.filter(workspace=workspace, role=Role.OWNER).count()


@transaction.atomic
def membership_change_role(*, membership: Membership, role: Role | str, actor: User) -> Membership:
    """Change a member's role. Only owners grant or take away the owner role; the last owner
    cannot be demoted."""
    if role not in Role.values:
        raise ApplicationError("Choose a role: owner, admin or member.", field="role")
    workspace = _lock_workspace(membership.workspace)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    acting = _acting_membership(workspace=workspace, actor=actor)
    if Role.OWNER in (role, membership.role) and acting.role != Role.OWNER:
        raise PermissionDenied("Only an owner can grant or change the owner role.", field="role")
    if membership.role == role:
        return membership
    if membership.role == Role.OWNER and _owner_count(workspace) == 1:
        raise Conflict(
            "A workspace needs at least one owner: make someone else an owner first.",
            field="role",
        )
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    audit_record(
        action=AuditEvent.Action.MEMBER_ROLE_CHANGED,
        workspace=workspace,
        actor=actor,
        subject=membership.user.email,
        before={"role": before},
        after={"role": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User) -> None:
    """Remove a member (or leave, when the actor removes themself). Only owners remove
    owners; the last owner cannot leave or be removed."""
    workspace = _lock_workspace(membership.workspace)
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("user")
        .get(pk=membership.pk)
    )
    if membership.user_id != actor.pk:
        acting = _acting_membership(workspace=workspace, actor=actor)
        if membership.role == Role.OWNER and acting.role != Role.OWNER:
            raise PermissionDenied("Only an owner can remove an owner.")
    if membership.role == Role.OWNER and _owner_count(workspace) == 1:
        raise Conflict("A workspace needs at least one owner: make someone else an owner first.")
    membership.delete()
    audit_record(
        action=AuditEvent.Action.MEMBER_REMOVED,
        workspace=workspace,
        actor=actor,
        subject=membership.user.email,
        before={"role": membership.role},
    )


# Invitations ------------------------------------------------------------------------------


def _invitation_expiry(now: datetime) -> datetime:
    return now + timedelta(days=settings.HANDOFF_INVITATION_TTL_DAYS)


def _send_invitation_after_commit(invitation: Invitation, token: str) -> None:
    transaction.on_commit(lambda: invitation_send.delay(invitation.pk, token))


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
    with paywall_hits_recorded(user_email=actor.email):
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
    if role not in Role.values:
        raise ApplicationError("Choose a role: owner, admin or member.", field="role")
    workspace = _lock_workspace(workspace)
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
        limit_enforce(workspace, "seats", 1)  # the expired invitation no longer held a seat
        open_invitation.role = role
        open_invitation.save(update_fields=["role", "updated_at"])
        return open_invitation, _invitation_renew(invitation=open_invitation, actor=actor, now=now)

    limit_enforce(workspace, "seats", 1)
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
    _lock_workspace(invitation.workspace)
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
    with paywall_hits_recorded(user_email=actor.email):
        return _invitation_resend(invitation=invitation, actor=actor, now=now or timezone.now())


@transaction.atomic
def _invitation_resend(*, invitation: Invitation, actor: User, now: datetime) -> str:
    invitation = _invitation_lock(invitation)
    _acting_membership(workspace=invitation.workspace, actor=actor)
    _invitation_require_open(invitation, now)
    if invitation.status(now) == InvitationStatus.EXPIRED:
        limit_enforce(invitation.workspace, "seats", 1)
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
        raise ApplicationError(
            "This invitation link is not valid. It may have been resent: use the newest e-mail."
        )
    _invitation_require_acceptable(invitation, now or timezone.now())
    return invitation


def invitation_accept(*, token: str, user: User, now: datetime | None = None) -> Membership:
    """Accept an invitation as ``user`` (who must own the invited address): the user becomes
    a member with the invited role, and the invitation is used up."""
    with paywall_hits_recorded(user_email=user.email):
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
    with paywall_hits_recorded(user_email=invitation.email), transaction.atomic():
        user = user_create(email=invitation.email, password=password, full_name=full_name)
        return _invitation_accept(token=token, user=user, now=now)


# API keys ---------------------------------------------------------------------------------


@transaction.atomic
def api_key_create(
    *, workspace: Workspace, name: str, actor: User, now: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create an API key; returns the row and the full key, which is shown once only."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the key a name, such as where it is used.", field="name")
    if len(name) > 100:
        raise ApplicationError("Keep the name to 100 characters.", field="name")
    _acting_membership(workspace=workspace, actor=actor)
    now = now or timezone.now()
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        workspace=workspace,
        name=name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        created_by=actor,
        created_at=now,
    )
    audit_record(
        action=AuditEvent.Action.API_KEY_CREATED,
        workspace=workspace,
        actor=actor,
        subject=f"{name} ({prefix})",
        now=now,
    )
    onboarding_step_complete(workspace=workspace, step=OnboardingStep.Key.CREATE_API_KEY, now=now)
    return api_key, f"{API_KEY_PREFIX}_{prefix}_{secret}"


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User, now: datetime | None = None) -> ApiKey:
    """Revoke a key; requests with it are refused from then on."""
    now = now or timezone.now()
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    _acting_membership(workspace=api_key.workspace, actor=actor)
    if api_key.revoked_at is not None:
        raise Conflict("This API key is already revoked.")
    api_key.revoked_at = now
    api_key.save(update_fields=["revoked_at", "updated_at"])
    audit_record(
        action=AuditEvent.Action.API_KEY_REVOKED,
        workspace=api_key.workspace,
        actor=actor,
        subject=f"{api_key.name} ({api_key.prefix})",
        now=now,
    )
    return api_key


# How stale ``last_used_at`` may get before a request writes it again.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def api_key_authenticate(*, raw_key: str, now: datetime | None = None) -> ApiKey | None:
    """The active key matching ``raw_key``, or None. Records when the key was last used
    (at most once a minute per key)."""
    scheme, _, rest = raw_key.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != API_KEY_PREFIX or not prefix or not secret:
        return None
    api_key = (
        ApiKey.objects.select_related("workspace")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, hash_secret(secret)):
        return None
    now = now or timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


# Projects ---------------------------------------------------------------------------------


def project_create(*, workspace: Workspace, name: str, actor: User) -> Project:
    """Create a project, within the plan's projects limit. Any member may."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the project a name.", field="name")
    if len(name) > 100:
        raise ApplicationError("Keep the name to 100 characters.", field="name")
    if not Membership.objects.filter(workspace=workspace, user=actor).exists():
        raise PermissionDenied("Only members of the workspace can create projects.")
    with paywall_hits_recorded(user_email=actor.email):
        project = _project_create(workspace=workspace, name=name, actor=actor)
    usage_services.product_event_record(
        workspace_id=workspace.pk,
        name="project_created",
        user_email=actor.email,
        properties={"project_id": project.pk},
    )
    return project


@transaction.atomic
def _project_create(*, workspace: Workspace, name: str, actor: User) -> Project:
    workspace = _lock_workspace(workspace)
    limit_enforce(workspace, "projects", 1)
    project = Project.objects.create(workspace=workspace, name=name, created_by=actor)
    audit_record(
        action=AuditEvent.Action.PROJECT_CREATED,
        workspace=workspace,
        actor=actor,
        subject=name,
    )
    return project


# Onboarding -------------------------------------------------------------------------------


def onboarding_step_complete(
    *, workspace: Workspace, step: OnboardingStep.Key | str, now: datetime | None = None
) -> bool:
    """Record the first completion of a checklist step; returns True the first time.

    When the activation rule names this step, the workspace is activated at that moment.
    """
    now = now or timezone.now()
    _, created = OnboardingStep.objects.get_or_create(
        workspace=workspace, key=step, defaults={"completed_at": now}
    )
    if created and activation_rule().matches_step(step):
        workspace_activate(workspace_id=workspace.pk, now=now)
    return created


def workspace_activate(*, workspace_id: int, now: datetime) -> bool:
    """Mark the workspace as having reached value, the first time only (time to value is
    measured from sign-up to this moment). Returns True if this call activated it."""
    return bool(
        Workspace.objects.filter(pk=workspace_id, activated_at__isnull=True).update(
            activated_at=now
        )
    )
