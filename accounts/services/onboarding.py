"""Onboarding: the checklist's steps and the workspace's activation."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.errors import ApplicationError, PermissionDenied
from accounts.models import (
    AuditEvent,
    Membership,
    OnboardingStep,
    TeamSize,
    UseCase,
    User,
    Workspace,
)
from accounts.signals import onboarding_step_completed


def onboarding_step_complete(
    *, workspace: Workspace, step: OnboardingStep.Key | str, now: datetime | None = None
) -> bool:
    """Record the first completion of a checklist step; returns True the first time.

    The first time, ``onboarding_step_completed`` is sent: usage, which owns the activation
    rule, activates the workspace at that moment when the rule names this step."""
    now = now or timezone.now()
    _, created = OnboardingStep.objects.get_or_create(
        workspace=workspace, key=step, defaults={"completed_at": now}
    )
    if created:
        onboarding_step_completed.send(
            sender=OnboardingStep, workspace=workspace, step=step, at=now
        )
    return created


def workspace_activate(*, workspace_id: int, now: datetime) -> bool:
    """Mark the workspace as having reached value, the first time only (time to value is
    measured from sign-up to this moment). Returns True if this call activated it."""
    return bool(
        Workspace.objects.filter(pk=workspace_id, activated_at__isnull=True).update(
            activated_at=now
        )
    )


@transaction.atomic
def workspace_fit_set(
    *, workspace: Workspace, actor: User, team_size: str, use_case: str
) -> Workspace:
    """Record the sign-up questionnaire's answers (either may stay empty: both are
    optional). Owners and admins only; the use case orders the onboarding checklist."""
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    if membership is None or not membership.can_manage:
        raise PermissionDenied("Only the workspace's owners and admins can answer this.")
    if team_size not in ("", *TeamSize.values):
        raise ApplicationError("Choose one of the team sizes offered.", field="team_size")
    if use_case not in ("", *UseCase.values):
        raise ApplicationError("Choose one of the uses offered.", field="use_case")
    before = {"team_size": workspace.team_size, "use_case": workspace.use_case}
    workspace.team_size, workspace.use_case = team_size, use_case
    workspace.save(update_fields=["team_size", "use_case", "updated_at"])
    audit_record(
        action=AuditEvent.Action.WORKSPACE_CHANGED,
        workspace=workspace,
        actor=actor,
        subject=workspace.slug,
        before=before,
        after={"team_size": team_size, "use_case": use_case},
    )
    return workspace
