"""Reads of usage across many workspaces at once (set-based: one query per metric)."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from accounts.models import Invitation, Membership, Project


def _counts(queryset, workspace_ids: list[int]) -> dict[int, int]:
    return dict(
        queryset.filter(workspace_id__in=workspace_ids)
        .values("workspace_id")
        .annotate(n=Count("id"))
        .values_list("workspace_id", "n")
    )


def usage_by_workspace(
    *, metric: str, workspace_ids: Iterable[int], now: datetime | None = None
) -> dict[int, int]:
    """What each workspace uses of ``metric`` now, for many workspaces in a query or two.
    Seats are members plus pending invitations, as in ``usage.limits.usage_current``.
    Metered metrics read 0 until usage ingestion exists."""
    ids = list(workspace_ids)
    usage = dict.fromkeys(ids, 0)
    if metric == "seats":
        pending = Invitation.objects.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now or timezone.now()
        )
        for counts in (_counts(Membership.objects.all(), ids), _counts(pending, ids)):
            for workspace_id, n in counts.items():
                usage[workspace_id] += n
    elif metric == "projects":
        usage.update(_counts(Project.objects.all(), ids))
    return usage
