"""Onboarding: the checklist's steps and the workspace's activation."""

from datetime import datetime

from django.utils import timezone

from accounts.models import (
    OnboardingStep,
    Workspace,
)
from accounts.selectors import activation_rule


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
