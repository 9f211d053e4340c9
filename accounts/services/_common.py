"""Checks shared by several of the services modules."""

from accounts.errors import ApplicationError, PermissionDenied
from accounts.models import (
    Membership,
    Role,
    User,
    Workspace,
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
