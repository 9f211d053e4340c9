"""E-mails billing sends, as Celery tasks (enqueued after the commit that causes them)."""

import logging

from celery import shared_task
from django.core.mail import send_mail

from accounts.tasks import MAIL_TASK_OPTIONS
from billing.models import Subscription
from billing.selectors import workspace_owner_emails

logger = logging.getLogger(__name__)


# the name queued messages carry (the task lived in billing.tasks)
@shared_task(name="billing.tasks.trial_ending_notify", **MAIL_TASK_OPTIONS)
def trial_ending_notify(workspace_id: int, stripe_event_id: str) -> int:
    """E-mail the workspace's owners that its trial ends soon, unless it no longer trials.
    Returns the number of people written to."""
    subscription = (
        Subscription.objects.select_related("plan", "workspace")
        .filter(workspace_id=workspace_id)
        .first()
    )
    if subscription is None or subscription.status != Subscription.Status.TRIALING:
        logger.info(
            "trial reminder %s: workspace %s no longer trials", stripe_event_id, workspace_id
        )
        return 0
    recipients = workspace_owner_emails(workspace_id=workspace_id)
    if not recipients:
        return 0
    trial_end = subscription.trial_end
    ends = f" on {trial_end:%B} {trial_end.day}, {trial_end.year}" if trial_end else " soon"
    send_mail(
        subject=f"Your {subscription.plan.name} trial for {subscription.workspace.name} ends{ends}",
        message=(
            f"The {subscription.plan.name} trial of {subscription.workspace.name} ends{ends}.\n\n"
            "Add a payment method before then to keep the plan's limits and features; "
            "otherwise the workspace goes back to the free plan.\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )
    return len(recipients)
