"""Delivery of the local gateway's events to the webhook endpoint, as Stripe delivers its
own: each event is POSTed over HTTP to ``HANDOFF_SITE_URL`` + the webhook endpoint (the one
Stripe itself would call), signed with Stripe's scheme and the ``STRIPE_WEBHOOK_SECRET``, by
one Celery task per event, retried with backoff while the endpoint cannot be reached. An
event's ``pending_webhooks`` drops to 0 once the endpoint answered 2xx.
"""

import json
import logging
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from billing.models import LocalStripeObject
from billing.stripe.client import StripeUnavailable
from billing.stripe.interface import demo_billing_active
from billing.stripe.signing import signature_header

logger = logging.getLogger(__name__)

MAX_RETRIES = 8  # about eight and a half minutes with the backoff below


DELIVERY_TIMEOUT = 10  # seconds


def webhook_url() -> str:
    return settings.HANDOFF_SITE_URL.rstrip("/") + reverse("stripe_webhook")


def event_body(event_id: str) -> bytes | None:
    """The JSON body a stored event is posted with (Stripe posts its events indented), or
    None once it was delivered."""
    row = LocalStripeObject.objects.filter(stripe_id=event_id, object="event").first()
    if row is None or row.data.get("pending_webhooks", 0) == 0:
        return None
    return json.dumps(row.data, indent=2, sort_keys=True).encode()


@transaction.atomic
def event_delivered(event_id: str) -> None:
    """The endpoint answered 2xx: nothing left to send."""
    row = LocalStripeObject.objects.select_for_update().filter(stripe_id=event_id).first()
    if row is not None and row.data.get("pending_webhooks"):
        row.data["pending_webhooks"] = 0
        row.save(update_fields=["data"])


def event_deliver(*, event_id: str) -> bool:
    """POST one stored event to the webhook endpoint, signed as Stripe signs. True once
    the endpoint answered 2xx (then ``pending_webhooks`` is 0 and a second call sends
    nothing); False when it refused the event for good (4xx other than 429). A network
    error, a 429 or a 5xx raises ``StripeUnavailable``: retry later. Nothing is sent
    unless offline demo billing serves this installation: once Stripe itself is configured
    the local gateway no longer speaks for it, and without any gateway nothing is billed."""
    if not demo_billing_active():
        logger.warning("local event %s not delivered: offline demo billing is off", event_id)
        return False
    payload = event_body(event_id)
    if payload is None:
        return True
    url = webhook_url()
    if urlsplit(url).scheme not in ("http", "https"):
        raise StripeUnavailable(f"HANDOFF_SITE_URL must be an http(s) URL, not {url!r}.")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, settings.STRIPE_WEBHOOK_SECRET),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks; Handoff local)",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        raise StripeUnavailable(f"webhook endpoint {url} unreachable: {exc}") from exc
    if status == 429 or status >= 500:
        raise StripeUnavailable(f"webhook endpoint {url} answered {status}")
    if status >= 300:
        logger.error("webhook endpoint %s refused %s with %s", url, event_id, status)
        return False
    event_delivered(event_id)
    return True


# The task keeps the name it had as ``billing.tasks_local``: messages queued before an
# upgrade still find it.
@shared_task(
    name="billing.tasks_local.local_event_deliver",
    bind=True,
    acks_late=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=30,
    time_limit=40,
)
def local_event_deliver(self, event_id: str) -> bool:
    """POST one local event to ``HANDOFF_SITE_URL``'s webhook endpoint. Safe to run twice:
    a delivered event is not sent again."""
    try:
        return event_deliver(event_id=event_id)
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
