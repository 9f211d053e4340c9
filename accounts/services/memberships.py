"""Memberships: adding a member (within the seat limit), changing roles, removing."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.errors import Conflict, PermissionDenied
from accounts.locks import workspace_lock
from accounts.models import (
    AuditEvent,
    Membership,
    Role,
    User,
    Workspace,
)
from accounts.plan import plan_policy
from accounts.services._common import _acting_membership, _role_check


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
    plan_policy().limit_enforce(workspace, "seats", 1, used=members)
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
