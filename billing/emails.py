"""Billing's messages now go through the notifications app, which reacts to
``billing.signals``. This task stays under its old name for messages queued before."""

import logging

from celery import shared_task

from accounts.tasks import MAIL_TASK_OPTIONS
from billing.models import Subscription
from billing.signals import trial_ending

logger = logging.getLogger(__name__)


# the name queued messages carry (the task lived in billing.tasks)
@shared_task(name="billing.tasks.trial_ending_notify", **MAIL_TASK_OPTIONS)
def trial_ending_notify(workspace_id: int, stripe_event_id: str) -> int:
    """A trial reminder queued before the notifications app: announce ``trial_ending``
    (which e-mails the owners and admins once), unless the workspace no longer trials.
    Returns the number of receivers told."""
    subscription = (
        Subscription.objects.select_related("plan").filter(workspace_id=workspace_id).first()
    )
    if subscription is None or subscription.status != Subscription.Status.TRIALING:
        logger.info(
            "trial reminder %s: workspace %s no longer trials", stripe_event_id, workspace_id
        )
        return 0
    return len(
        trial_ending.send(
            sender=Subscription,
            workspace_id=workspace_id,
            plan_name=subscription.plan.name,
            trial_end=subscription.trial_end,
            stripe_event_id=stripe_event_id,
        )
    )
