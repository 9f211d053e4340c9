"""Reads of the notifications app: who is told, what they turned off, what was sent."""

from dataclasses import dataclass

from django.db.models import QuerySet

from accounts import selectors as accounts_selectors
from accounts.cache import TwoLevelCache
from accounts.models import MANAGER_ROLES, User, Workspace
from notifications.models import REQUIRED_KINDS, AlertThreshold, Kind, Notification, OptOut


def workspace_recipients(*, workspace: Workspace, kind: str) -> list[User]:
    """The active owners and admins of the workspace who have not turned ``kind`` off (a
    required kind goes to all of them), by e-mail address."""
    memberships = accounts_selectors.workspace_members(workspace=workspace).filter(
        role__in=MANAGER_ROLES, user__is_active=True
    )
    if kind in Kind.values and kind not in REQUIRED_KINDS:
        off = OptOut.objects.filter(workspace=workspace, kind=kind).values("user_id")
        memberships = memberships.exclude(user_id__in=off)
    return [m.user for m in memberships.order_by("user__email")]


def alert_thresholds() -> list[int]:
    """The active usage alert thresholds, in percent, lowest first."""
    return list(
        AlertThreshold.objects.filter(is_active=True)
        .order_by("percent")
        .values_list("percent", flat=True)
    )


def user_opt_outs(*, user: User, workspace: Workspace) -> set[str]:
    """The kinds ``user`` turned off in ``workspace``."""
    return set(OptOut.objects.filter(user=user, workspace=workspace).values_list("kind", flat=True))


def workspace_notifications(*, workspace: Workspace) -> QuerySet[Notification]:
    """Every message sent about the workspace, newest first, with its recipient."""
    return (
        Notification.objects.filter(workspace=workspace)
        .select_related("recipient")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class Notice:
    """An in-app notice as the workspace's pages show it."""

    pk: int
    subject: str
    link: str
    link_label: str


# Every workspace page shows the viewer's notices: read from the shared cache (no database
# query once warm), dropped whenever one is recorded or dismissed (``notices_changed``).
_notices = TwoLevelCache(prefix="notices", local_ttl=0, shared_ttl=600)
MAX_NOTICES = 5


def user_open_notices(*, user_id: int, workspace_id: int) -> tuple[Notice, ...]:
    """The newest in-app notices the user has not dismissed in the workspace."""

    def build() -> tuple[Notice, ...]:
        rows = Notification.objects.filter(
            recipient_id=user_id,
            workspace_id=workspace_id,
            channel=Notification.Channel.IN_APP,
            dismissed_at__isnull=True,
        ).order_by("-created_at", "-id")[:MAX_NOTICES]
        return tuple(Notice(n.pk, n.subject, n.link, n.link_label) for n in rows)

    return _notices.get_or_build(_notices.key(user_id, workspace_id), build)


def notices_changed(*, user_id: int, workspace_id: int) -> None:
    _notices.delete(_notices.key(user_id, workspace_id))
