"""Onboarding: the checklist's steps and the workspace's activation."""

from datetime import datetime

from django.utils import timezone

from accounts.models import (
    OnboardingStep,
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
