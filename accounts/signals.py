"""Signals accounts sends outward, to the apps above it that react (usage: product events
and the activation rule)."""

from django.dispatch import Signal

# A member created a project: ``project``, by ``actor``.
project_created = Signal()

# A workspace completed an onboarding checklist step for the first time: ``workspace``,
# ``step`` (an ``OnboardingStep.Key``), ``at``. Sent inside the transaction that recorded it.
onboarding_step_completed = Signal()
