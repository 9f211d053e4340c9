"""Delivery of the local gateway's events to the webhook endpoint, as Stripe delivers its
own: one task per event, enqueued once the change that emitted it commits, retried with
backoff while the endpoint cannot be reached."""

import logging

from celery import shared_task

from billing.stripe import local
from billing.stripe.client import StripeUnavailable

logger = logging.getLogger(__name__)

MAX_RETRIES = 8  # about eight and a half minutes with the backoff below


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES, soft_time_limit=30, time_limit=40)
def local_event_deliver(self, event_id: str) -> bool:
    """POST one local event to ``HANDOFF_SITE_URL``'s webhook endpoint. Safe to run twice:
    a delivered event is not sent again."""
    try:
        return local.event_deliver(event_id=event_id)
    except StripeUnavailable as exc:
        # What failed, for the operator: the URL and the underlying error (the exception's
        # own message is the sentence shown to customers, and it is all Celery's retry line
        # would show).
        if self.request.is_eager:
            # In-process (the embedded default): retrying at once would only fail again.
            # The event stays pending; the time tool page re-sends pending events.
            logger.warning(
                "local event %s not delivered: %s; it stays pending (the time tool page "
                "re-sends it)",
                event_id,
                exc.detail,
            )
            return False
        attempt = self.request.retries + 1
        if self.request.retries >= self.max_retries:
            logger.error(
                "local event %s not delivered after %d attempts, giving up: %s; it stays "
                "pending (the time tool page re-sends it)",
                event_id,
                attempt,
                exc.detail,
            )
            raise
        countdown = min(2**self.request.retries, 300)
        logger.warning(
            "local event %s not delivered (attempt %d of %d): %s; retrying in %d s",
            event_id,
            attempt,
            self.max_retries + 1,
            exc.detail,
            countdown,
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
