"""Overrides of a limit or feature for one workspace, granted and revoked by staff, each
audited."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.errors import ApplicationError
from accounts.models import AuditEvent, User, Workspace
from billing.models import (
    Enforcement,
    Feature,
    WorkspaceOverride,
)
from usage.models import Metric


def _override_view(override: WorkspaceOverride) -> dict:
    data = {"reason": override.reason}
    if override.metric_id:
        data |= {
            "metric": override.metric_id,
            "limit": override.limit,
            "enforcement": override.enforcement,
        }
    else:
        data |= {"feature": override.feature_id, "enabled": override.enabled}
    if override.expires_at:
        data["expires_at"] = override.expires_at.isoformat()
    return data


@transaction.atomic
def override_grant(
    *,
    workspace: Workspace,
    actor: User,
    reason: str,
    metric: str | None = None,
    limit: int | None = None,
    enforcement: str = Enforcement.HARD,
    feature: str | None = None,
    enabled: bool = True,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> WorkspaceOverride:
    """Give one workspace a different limit (``metric`` + ``limit``, None = unlimited) or
    feature (``feature`` + ``enabled``), with a reason and an optional expiry."""
    if (metric is None) == (feature is None):
        raise ApplicationError("Override either a limit (metric) or a feature.", field="metric")
    if metric is not None and not Metric.objects.filter(key=metric).exists():
        raise ApplicationError(f"Unknown metric “{metric}”.", field="metric")
    if feature is not None and not Feature.objects.filter(key=feature).exists():
        raise ApplicationError(f"Unknown feature “{feature}”.", field="feature")
    if limit is not None and limit < 0:
        raise ApplicationError("A limit cannot be negative.", field="limit")
    if not reason.strip():
        raise ApplicationError("Say why the override is granted.", field="reason")
    if expires_at is not None and expires_at <= (now or timezone.now()):
        raise ApplicationError("The expiry must be in the future.", field="expires_at")
    override = WorkspaceOverride.objects.create(
        workspace=workspace,
        metric_id=metric,
        limit=limit if metric else None,
        enforcement=enforcement,
        feature_id=feature,
        enabled=enabled,
        reason=reason.strip(),
        granted_by=actor,
        expires_at=expires_at,
    )
    audit_record(
        action=AuditEvent.Action.OVERRIDE_GRANTED,
        actor=actor,
        subject=workspace.slug,
        workspace=workspace,
        after=_override_view(override),
    )
    return override


@transaction.atomic
def override_revoke(*, override: WorkspaceOverride, actor: User) -> None:
    """Remove an override; the plan's limit or feature applies again."""
    before = _override_view(override)
    workspace = override.workspace
    override.delete()
    audit_record(
        action=AuditEvent.Action.OVERRIDE_REVOKED,
        actor=actor,
        subject=workspace.slug,
        workspace=workspace,
        before=before,
    )
