"""Workspaces: creating one, its settings (name, address) and deleting it."""

import re
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
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
    Membership,
    Role,
    User,
    Workspace,
    WorkspaceFormerSlug,
    validate_time_zone,
)
from accounts.plan import plan_policy
from accounts.services.memberships import membership_create
from accounts.services.users import company_domain_from_email
from accounts.signup_source import signup_source_clean

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
    signup_source: dict[str, str] | None = None,
    now: datetime | None = None,
) -> Workspace:
    """Create a workspace with ``owner`` as its first owner. ``signup_source`` keeps only
    the known UTM and referrer keys (``accounts.signup_source.signup_source_clean``)."""
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
        signup_source=signup_source_clean(signup_source or {}),
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
    plan_policy().workspace_plan_start(workspace=workspace)
    membership_create(workspace=workspace, user=owner, role=Role.OWNER, actor=owner, now=now)
    return workspace


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
    """Why the workspace cannot be deleted now, or None: billing's rule (a workspace that
    still pays, or whose failed payment is being retried, cannot be deleted)."""
    return plan_policy().workspace_deletion_blocker(workspace=workspace)


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
