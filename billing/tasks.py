"""Celery entry points of billing. Each takes ids, returns early when there is nothing to
do, and calls one service."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

# A task under its old name, for messages queued before it moved: imported so workers know it.
from billing.emails import trial_ending_notify  # noqa: F401
from billing.models import StripeEvent
from billing.stripe import reconcile
from billing.stripe.client import StripeUnavailable
from billing.stripe.gateway import billing_configured

# The offline gateway's webhook delivery task: imported here so workers register it.
from billing.stripe.local.delivery import local_event_deliver  # noqa: F401
from billing.stripe.processing import TRANSIENT_ERRORS, stripe_event_apply

logger = logging.getLogger(__name__)

# An event tried before and still pending is in its task's retries (backoff up to ten
# minutes): queued again only well after that. One never tried has lost its queue message
# (the broker was down when the webhook stored it, or lost it): queued again after
# HANDOFF_STRIPE_REQUEUE_SECONDS, the period beat runs this job at.
REQUEUE_AFTER = timedelta(minutes=10)
REQUEUE_BATCH = 500


@shared_task(
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
    soft_time_limit=30,
    time_limit=60,
)
def stripe_event_process(event_id: int) -> str:
    """Process one stored Stripe event (``billing.stripe.processing.stripe_event_apply``).
    Transient failures (Stripe unreachable, the database) are retried with exponential
    backoff up to about ten minutes apart, eight times, and the event stays pending for the
    periodic requeue after that; anything else leaves the event failed, with its error, for
    a billing admin to replay."""
    return stripe_event_apply(event_id=event_id)


@shared_task(soft_time_limit=60, time_limit=90)
def stripe_events_requeue() -> int:
    """Queue again the pending events whose queue message was lost (the broker was down or
    lost it): those never tried, HANDOFF_STRIPE_REQUEUE_SECONDS after they arrived; those
    tried before, once their task's retries are over. Returns how many were queued."""
    now = timezone.now()
    never_tried = timedelta(seconds=settings.HANDOFF_STRIPE_REQUEUE_SECONDS)
    ids = list(
        StripeEvent.objects.filter(status=StripeEvent.Status.PENDING)
        .filter(
            Q(attempts=0, received_at__lt=now - never_tried)
            | Q(received_at__lt=now - REQUEUE_AFTER)
        )
        .order_by("created", "id")
        .values_list("pk", flat=True)[:REQUEUE_BATCH]
    )
    for event_id in ids:
        stripe_event_process.delay(event_id)
    return len(ids)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(StripeUnavailable,),
    retry_backoff=60,
    retry_backoff_max=900,
    max_retries=5,
    soft_time_limit=600,
    time_limit=660,
)
def stripe_reconcile(self) -> list[str]:
    """Nightly: one chunk of the reconciliation with Stripe (at most
    ``HANDOFF_STRIPE_RECONCILE_PAGES_PER_TASK`` pages: recover undelivered events, re-sync
    every subscription, repair drift; ``billing.stripe.reconcile``), then queue the next
    chunk until the run is done. Another chunk holding the run: nothing to do. Stripe
    unreachable: retried later, from the last page done."""
    if not billing_configured():
        logger.warning("reconcile: billing is not configured (no gateway): nothing to do")
        return []
    try:
        result = reconcile.stripe_reconcile_chunk(
            pages=settings.HANDOFF_STRIPE_RECONCILE_PAGES_PER_TASK
        )
    except reconcile.ReconcileBusy as exc:
        logger.info("reconcile: %s", exc.message)
        return []
    for change in result.changes:
        logger.info("reconcile: %s", change)
    if not result.done:
        stripe_reconcile.delay()
    return result.changes
