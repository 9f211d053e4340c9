"""Every write to accounts: sign-up, workspaces, memberships, invitations, API keys, staff.

Role rules live here, not in views: owners and admins manage the workspace; only an owner
can grant, change or remove the owner role; a workspace always keeps at least one owner.
Changes that touch memberships lock the workspace row first, so concurrent changes to one
workspace run one after the other.
"""

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict, PermissionDenied
from accounts.locks import workspace_lock
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
    WorkspaceFormerSlug,
    validate_time_zone,
)
from accounts.roles import STAFF_GROUPS, STAFF_ROLES, StaffRole, staff_role_of
from accounts.tasks import invitation_send
from accounts.tokens import hash_secret
from billing import selectors as billing_selectors
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


def _role_check(role: str) -> None:
    """Refuse a role that is not one of ``Role``."""
    if role not in Role.values:
        raise ApplicationError("Choose a role: owner, admin or member.", field="role")


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


# Slugs that would read as part of the site rather than a workspace's address.
RESERVED_SLUGS = frozenset(
    {
        "account", "accounts", "admin", "api", "app", "billing", "deleted", "docs", "handoff",
        "healthz", "help", "login", "logout", "metrics", "new", "password", "pricing", "sales",
        "settings", "signup", "static", "stripe", "support", "w", "workspace", "workspaces",
        "www",
    }
)  # fmt: skip
DELETED_SLUG_PREFIX = "deleted-"
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,58}[a-z0-9])$")


def _slug_taken(slug: str, *, workspace: Workspace | None = None) -> bool:
    """Whether another workspace has ``slug``, now or as a former slug (whose links still
    lead to it)."""
    current = Workspace.objects.filter(slug=slug)
    former = WorkspaceFormerSlug.objects.filter(slug=slug)
    if workspace is not None:
        current = current.exclude(pk=workspace.pk)
        former = former.exclude(workspace=workspace)
    return current.exists() or former.exists()


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50].strip("-") or "workspace"
    if base in RESERVED_SLUGS or base.startswith(DELETED_SLUG_PREFIX):
        base = f"{base}-workspace"
    slug = base
    while _slug_taken(slug):
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


@transaction.atomic
def user_update_profile(
    *, user: User, full_name: str, email: str, current_password: str = ""
) -> User:
    """Change a user's name and e-mail address. A new address must be valid and unused (in
    any letter case), and needs the current password: the address is the log-in."""
    full_name = full_name.strip()
    if len(full_name) > 150:
        raise ApplicationError("Keep the name to 150 characters.", field="full_name")
    email = User.objects.normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ApplicationError("Enter a valid e-mail address.", field="email") from exc
    user = User.objects.select_for_update().get(pk=user.pk)
    changed = []
    if full_name != user.full_name:
        user.full_name = full_name
        changed.append("full_name")
    old_email = user.email
    if email != old_email:
        if not current_password or not check_password(current_password, user.password):
            raise ApplicationError(
                "Enter your current password to change your e-mail address.",
                field="current_password",
            )
        if User.objects.filter(email=email).exclude(pk=user.pk).exists():
            raise Conflict("Another account already uses this e-mail address.", field="email")
        user.email = email
        changed.append("email")
    if not changed:
        return user
    try:
        with transaction.atomic():
            user.save(update_fields=changed)
    except IntegrityError as exc:  # the address was taken a moment ago
        raise Conflict("Another account already uses this e-mail address.", field="email") from exc
    if "email" in changed:
        audit_record(
            action=AuditEvent.Action.USER_EMAIL_CHANGED,
            actor=user,
            subject=email,
            before={"email": old_email},
            after={"email": email},
        )
    return user


# Workspace settings -----------------------------------------------------------------------


def _owner_require(*, workspace: Workspace, actor: User, doing: str) -> Membership:
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    if membership is None or membership.role != Role.OWNER:
        raise PermissionDenied(f"Only the workspace's owners can {doing}.")
    return membership


def _slug_clean(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not slug:
        raise ApplicationError("Choose an address for the workspace.", field="slug")
    if not 3 <= len(slug) <= 60:
        raise ApplicationError("Use 3 to 60 characters for the address.", field="slug")
    if not SLUG_PATTERN.match(slug):
        raise ApplicationError(
            "Use lower-case letters, digits and hyphens, starting and ending with a letter "
            "or a digit.",
            field="slug",
        )
    if slug in RESERVED_SLUGS or slug.startswith(DELETED_SLUG_PREFIX):
        raise ApplicationError(f"“{slug}” is reserved: choose another address.", field="slug")
    return slug


@transaction.atomic
def workspace_update(
    *, workspace: Workspace, actor: User, name: str, slug: str, now: datetime | None = None
) -> Workspace:
    """Rename the workspace and/or change its address (slug). Owners only. A new slug is
    validated (format, reserved words) and must be free, including other workspaces'
    former slugs; the old slug keeps leading members to the workspace (``former_slugs``)
    and no other workspace can take it."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the workspace a name.", field="name")
    if len(name) > 100:
        raise ApplicationError("Keep the name to 100 characters.", field="name")
    workspace = workspace_lock(workspace)
    _owner_require(workspace=workspace, actor=actor, doing="change its settings")
    slug = (slug or "").strip().lower()
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    if name != workspace.name:
        before["name"], after["name"] = workspace.name, name
    if slug != workspace.slug:
        slug = _slug_clean(slug)
        if _slug_taken(slug, workspace=workspace):
            raise Conflict(f"The address /w/{slug}/ is taken: choose another.", field="slug")
        before["slug"], after["slug"] = workspace.slug, slug
    if not after:
        return workspace
    if "slug" in after:
        WorkspaceFormerSlug.objects.filter(workspace=workspace, slug=slug).delete()
        WorkspaceFormerSlug.objects.get_or_create(
            slug=workspace.slug, defaults={"workspace": workspace}
        )
    workspace.name = name
    workspace.slug = slug
    try:
        with transaction.atomic():
            workspace.save(update_fields=["name", "slug", "updated_at"])
    except IntegrityError as exc:  # taken a moment ago by a new workspace
        raise Conflict(f"The address /w/{slug}/ is taken: choose another.", field="slug") from exc
    audit_record(
        action=AuditEvent.Action.WORKSPACE_CHANGED,
        workspace=workspace,
        actor=actor,
        subject=workspace.slug,
        before=before,
        after=after,
        now=now,
    )
    return workspace


def workspace_deletion_blocker(*, workspace: Workspace) -> str | None:
    """Why the workspace cannot be deleted now, or None. The rule: a paid subscription must
    be canceled first (set to end at the end of its period: no further payment is taken),
    and a failed payment still being retried must be settled, so no live subscription keeps
    billing a deleted workspace."""
    subscription = billing_selectors.workspace_subscription(workspace_id=workspace.pk)
    if not subscription.is_paid:
        return None
    plan = subscription.plan.name
    if subscription.status == "past_due":
        return (
            f"The last payment for the {plan} plan failed and is still being retried: update "
            "the card in the billing portal, or cancel the subscription and wait until it has "
            "ended, before deleting the workspace."
        )
    if not billing_selectors.subscription_canceling(subscription):
        return (
            f"{workspace.name} pays for the {plan} plan: cancel the subscription on the billing "
            "page first. It then is not renewed and no further payment is taken; after that "
            "you can delete the workspace."
        )
    return None


@transaction.atomic
def workspace_delete(
    *, workspace: Workspace, actor: User, confirmation: str, now: datetime | None = None
) -> Workspace:
    """Delete the workspace: its members lose access at once, its API keys stop working,
    open invitations are withdrawn, its addresses are freed. Owners only, after typing the
    workspace's address; refused while a paid subscription would keep billing it
    (``workspace_deletion_blocker``). The row stays, marked deleted, with its billing
    records (a canceled subscription runs out and its webhooks still land) and its audit
    log."""
    now = now or timezone.now()
    workspace = workspace_lock(workspace)
    _owner_require(workspace=workspace, actor=actor, doing="delete it")
    if (confirmation or "").strip().lower() != workspace.slug:
        raise ApplicationError(
            f"Type the workspace's address, {workspace.slug}, to confirm.", field="confirmation"
        )
    blocker = workspace_deletion_blocker(workspace=workspace)
    if blocker:
        raise Conflict(blocker)
    before = {"name": workspace.name, "slug": workspace.slug}
    members = Membership.objects.filter(workspace=workspace)
    before["members"] = members.count()
    members.delete()
    Invitation.objects.filter(workspace=workspace, accepted_at=None, revoked_at=None).update(
        revoked_at=now, updated_at=now
    )
    ApiKey.objects.filter(workspace=workspace, revoked_at=None).update(
        revoked_at=now, updated_at=now
    )
    WorkspaceFormerSlug.objects.filter(workspace=workspace).delete()
    workspace.slug = f"{DELETED_SLUG_PREFIX}{workspace.pk}-{secrets.token_hex(4)}"
    workspace.deleted_at = now
    workspace.save(update_fields=["slug", "deleted_at", "updated_at"])
    audit_record(
        action=AuditEvent.Action.WORKSPACE_DELETED,
        workspace=workspace,
        actor=actor,
        subject=before["slug"],
        before=before,
        now=now,
    )
    return workspace


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
    _role_check(role)
    workspace = workspace_lock(workspace)
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
    _role_check(role)
    workspace = workspace_lock(membership.workspace)
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
    workspace = workspace_lock(membership.workspace)
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


def _project_name_clean(name: str) -> str:
    name = name.strip()
    if not name:
        raise ApplicationError("Give the project a name.", field="name")
    if len(name) > 100:
        raise ApplicationError("Keep the name to 100 characters.", field="name")
    return name


def _project_name_require_free(
    *, workspace: Workspace, name: str, project: Project | None = None
) -> None:
    """Names are unique within a workspace in any letter case (the database holds the
    rule; this says it clearly). Callers hold the workspace lock."""
    others = Project.objects.filter(workspace=workspace, name__iexact=name)
    if project is not None:
        others = others.exclude(pk=project.pk)
    existing = others.first()
    if existing is not None:
        raise Conflict(
            f"This workspace already has a project named “{existing.name}”: choose another name.",
            field="name",
        )


def _project_save(project: Project, name: str, **save: object) -> None:
    try:
        with transaction.atomic():
            project.save(**save)
    except IntegrityError as exc:  # a concurrent change took the name
        raise Conflict(
            f"This workspace already has a project named “{name}”: choose another name.",
            field="name",
        ) from exc


def _project_lock(project: Project) -> Project:
    locked = Project.objects.select_for_update().filter(pk=project.pk).first()
    if locked is None:
        raise Conflict("This project was deleted a moment ago.")
    return locked


def _project_member(*, workspace: Workspace, actor: User, doing: str) -> Membership:
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    if membership is None:
        raise PermissionDenied(f"Only members of the workspace can {doing}.")
    return membership


def project_create(*, workspace: Workspace, name: str, actor: User) -> Project:
    """Create a project, within the plan's projects limit, under a name no other project of
    the workspace has. Any member may."""
    name = _project_name_clean(name)
    _project_member(workspace=workspace, actor=actor, doing="create projects")
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
    workspace = workspace_lock(workspace)
    _project_name_require_free(workspace=workspace, name=name)
    limit_enforce(workspace, "projects", 1)
    project = Project(workspace=workspace, name=name, created_by=actor)
    _project_save(project, name)
    audit_record(
        action=AuditEvent.Action.PROJECT_CREATED,
        workspace=workspace,
        actor=actor,
        subject=name,
    )
    return project


@transaction.atomic
def project_rename(*, project: Project, name: str, actor: User) -> Project:
    """Rename a project (a change of letter case only is allowed). Any member may."""
    name = _project_name_clean(name)
    workspace = workspace_lock(project.workspace)
    _project_member(workspace=workspace, actor=actor, doing="rename projects")
    project = _project_lock(project)
    if name == project.name:
        return project
    _project_name_require_free(workspace=workspace, name=name, project=project)
    before = project.name
    project.name = name
    _project_save(project, name, update_fields=["name", "updated_at"])
    audit_record(
        action=AuditEvent.Action.PROJECT_RENAMED,
        workspace=workspace,
        actor=actor,
        subject=name,
        before={"name": before},
        after={"name": name},
    )
    return project


@transaction.atomic
def project_delete(*, project: Project, actor: User) -> None:
    """Delete a project; it stops counting against the plan's projects limit at once.
    Owners and admins may delete any project, a member only the ones they created."""
    workspace = workspace_lock(project.workspace)
    membership = _project_member(workspace=workspace, actor=actor, doing="delete projects")
    project = _project_lock(project)
    if not membership.can_manage and project.created_by_id != actor.pk:
        raise PermissionDenied(
            "Only owners, admins and the member who created a project can delete it."
        )
    name = project.name
    project.delete()
    audit_record(
        action=AuditEvent.Action.PROJECT_DELETED,
        workspace=workspace,
        actor=actor,
        subject=name,
        before={"name": name},
    )


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


# Staff log-ins --------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffUserResult:
    """What ``staff_user_set`` did: ``changed`` is False when the user already was as asked."""

    user: User
    role: StaffRole
    role_before: StaffRole | None
    created: bool
    fields_changed: tuple[str, ...]
    groups_added: tuple[str, ...]
    groups_removed: tuple[str, ...]
    password_changed: bool

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.fields_changed
            or self.groups_added
            or self.groups_removed
            or self.password_changed
        )


@transaction.atomic
def staff_user_set(
    *,
    email: str,
    role: str | None,
    password: str | None = None,
    unusable_password: bool = False,
    now: datetime | None = None,
) -> StaffUserResult:
    """Create or update an active staff user holding ``role`` (a key of ``STAFF_ROLES``; None
    keeps an existing staff user's role), and in no other staff role's group.

    ``password`` (checked by Django's validators) replaces the current one unless it already
    is that password; ``unusable_password`` leaves one nobody can log in with (the user then
    sets theirs through a password-reset link); with neither, an existing user keeps theirs
    and a new user is refused. Asking twice changes nothing the second time; a change writes
    one audit row.
    """
    email = User.objects.normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ApplicationError(f"“{email}” is not a valid e-mail address.", field="email") from exc
    if role is not None and role not in STAFF_ROLES:
        raise ApplicationError(
            f"“{role}” is not a staff role: choose one of {', '.join(STAFF_ROLES)}.", field="role"
        )
    if password is not None and unusable_password:
        raise ApplicationError("Give a password or no password, not both.", field="password")

    user = User.objects.select_for_update().filter(email=email).first()
    created = user is None
    if user is None:
        if password is None and not unusable_password:
            raise ApplicationError(
                f"{email} is a new user: it needs a password, or a password-reset link instead.",
                field="password",
            )
        user = User(email=email, is_active=True)
        held: set[str] = set()
        role_before = None
    else:
        held = set(user.groups.filter(name__in=STAFF_GROUPS).values_list("name", flat=True))
        role_before = staff_role_of(
            is_staff=user.is_staff, is_superuser=user.is_superuser, group_names=held
        )
    target = STAFF_ROLES[role] if role is not None else role_before
    if target is None:
        if held:
            what = f"is staff in {', '.join(sorted(held))}, not one role"
        else:
            what = "is a new user" if created else "is not staff"
        raise ApplicationError(f"{email} {what}: give the role to hold.", field="role")
    groups = {group.name: group for group in Group.objects.filter(name__in=target.groups)}
    if missing := target.groups - groups.keys():
        raise ApplicationError(
            f"The group {', '.join(sorted(missing))} does not exist: run `manage.py migrate`.",
            field="role",
        )

    password_changed = False
    if password is not None:
        try:
            password_validation.validate_password(password, user=user)
        except ValidationError as exc:
            raise ApplicationError(" ".join(exc.messages), field="password") from exc
        if created or not check_password(password, user.password):
            user.set_password(password)
            password_changed = True
    elif unusable_password and (created or user.has_usable_password()):
        user.set_unusable_password()
        password_changed = True

    wanted = {"is_active": True, "is_staff": True, "is_superuser": target.is_superuser}
    fields_changed = tuple(name for name, value in wanted.items() if getattr(user, name) != value)
    for name, value in wanted.items():
        setattr(user, name, value)
    if created:
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:  # created at the same moment by another run
            raise Conflict(f"{email} was created meanwhile: run the command again.") from exc
    elif fields_changed or password_changed:
        user.save(update_fields=[*fields_changed, *(["password"] if password_changed else [])])

    added = tuple(sorted(target.groups - held))
    removed = tuple(sorted(held - target.groups))
    user.groups.add(*(groups[name] for name in added))
    user.groups.remove(*Group.objects.filter(name__in=removed))

    result = StaffUserResult(
        user=user,
        role=target,
        role_before=role_before,
        created=created,
        fields_changed=() if created else fields_changed,
        groups_added=added,
        groups_removed=removed,
        password_changed=password_changed,
    )
    if result.changed:
        after: dict = {"role": target.key}
        if password_changed:  # what happened to it, never the password itself
            what = "none: a reset link" if unusable_password else "set" if created else "changed"
            after["password"] = what
        audit_record(
            action=AuditEvent.Action.STAFF_USER_SET,
            actor=None,
            subject=email,
            before={} if created else {"role": role_before.key if role_before else None},
            after=after,
            now=now,
        )
    return result
