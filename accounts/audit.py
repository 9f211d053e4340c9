"""The audit log's one writer: every change that matters, who made it, before and after."""

from datetime import datetime

from django.utils import timezone

from accounts.models import AuditEvent, User, Workspace


def audit_record(
    *,
    action: AuditEvent.Action | str,
    actor: User | None,
    subject: str = "",
    workspace: Workspace | None = None,
    before: dict | None = None,
    after: dict | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one audit event (never updated, never deleted)."""
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        subject=subject,
        workspace=workspace,
        before=before or {},
        after=after or {},
        created_at=now or timezone.now(),
    )
