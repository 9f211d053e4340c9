"""Celery entry points of billing. Each takes ids, returns early when there is nothing to
do, and calls one service."""

import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.core.mail import send_mail
from django.db import OperationalError
from django.utils import timezone

from billing.models import StripeEvent, Subscription
from billing.selectors import workspace_owner_emails
from billing.stripe.client import StripeUnavailable
from billing.stripe.gateway import billing_configured

# The offline gateway's webhook delivery task: imported here so workers register it.
from billing.stripe.local.delivery import local_event_deliver  # noqa: F401

logger = logging.getLogger(__name__)

REQUEUE_AFTER = timedelta(minutes=10)
REQUEUE_BATCH = 500


@shared_task(
    acks_late=True,
    autoretry_for=(StripeUnavailable, OperationalError, SoftTimeLimitExceeded),
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
    soft_time_limit=30,
    time_limit=60,
)
def stripe_event_process(event_id: int) -> str:
    """Process one stored Stripe event (``billing.stripe.handlers.stripe_event_process``).
    Transient failures (Stripe unreachable, the database) are retried with exponential
    backoff up to about ten minutes apart, eight times, and the event stays pending for the
    periodic requeue after that; anything else leaves the event failed, with its error, for
    a billing admin to replay."""
    from billing.stripe.handlers import stripe_event_process as process

    return process(event_id=event_id)


@shared_task(soft_time_limit=60, time_limit=90)
def stripe_events_requeue() -> int:
    """Queue again the events still pending well after they arrived (their queue message
    was lost with the broker). Returns how many were queued."""
    ids = list(
        StripeEvent.objects.filter(
            status=StripeEvent.Status.PENDING, received_at__lt=timezone.now() - REQUEUE_AFTER
        )
        .order_by("created", "id")
        .values_list("pk", flat=True)[:REQUEUE_BATCH]
    )
    for event_id in ids:
        stripe_event_process.delay(event_id)
    return len(ids)


@shared_task(
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
    soft_time_limit=30,
    time_limit=60,
)
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


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def stripe_reconcile() -> list[str]:
    """Nightly: re-sync every paid subscription from Stripe, repair drift and recover
    undelivered events (``billing.reconcile.stripe_reconcile``)."""
    from billing.reconcile import stripe_reconcile as reconcile

    if not billing_configured():
        logger.warning("reconcile: billing is not configured (no gateway): nothing to do")
        return []
    changes = reconcile()
    for change in changes:
        logger.info("reconcile: %s", change)
    return changes
