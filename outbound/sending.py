"""Sending deliveries: one webhook attempt, signed; a Slack flush; and the record of each
attempt's answer, with the retry schedule.

A sender first claims a delivery (a conditional UPDATE moving its next attempt a lease
ahead), so two workers never send the same attempt, and a worker that dies mid-send leaves
it due again once the lease ends. Nothing here enqueues work (``outbound.tasks`` does)."""

import json
import logging
import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from outbound import client, signing
from outbound.models import Delivery, Endpoint
from outbound.payloads import slack_message

logger = logging.getLogger(__name__)

# Attempts before a delivery gives up: retries after 1, 4, 16, 64 and 256 minutes, then
# every 8 hours: the last of 8 attempts is about 22 hours after the first.
MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 60
RETRY_FACTOR = 4
RETRY_CAP_SECONDS = 8 * 3600
# How long a claimed attempt may take before the delivery is due again.
LEASE = timedelta(minutes=5)
SLACK_BATCH_MAX = 200


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (exponential, capped, ±10%)."""
    seconds = min(RETRY_BASE_SECONDS * RETRY_FACTOR ** (attempts - 1), RETRY_CAP_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))  # noqa: S311 - jitter


def _claim(queryset, *, now: datetime) -> int:
    return queryset.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=now + LEASE
    )


def _record(delivery: Delivery, answer: client.Answer, *, at: datetime) -> Delivery:
    """Write an attempt's result: delivered on a 2xx; otherwise due again after the backoff,
    or failed for good after ``MAX_ATTEMPTS``."""
    delivery.attempts += 1
    delivery.last_attempt_at = at
    delivery.last_status_code = answer.status
    delivery.last_response = answer.excerpt
    delivery.last_error = answer.error[:300]
    if answer.ok:
        delivery.status = Delivery.Status.SUCCEEDED
        delivery.delivered_at = at
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = Delivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = at + retry_delay(delivery.attempts)
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(
        attempts=delivery.attempts,
        last_attempt_at=at,
        last_status_code=delivery.last_status_code,
        last_response=delivery.last_response,
        last_error=delivery.last_error,
        status=delivery.status,
        delivered_at=delivery.delivered_at,
        next_attempt_at=delivery.next_attempt_at,
    )
    logger.info(
        "outbound delivery %s of %s to endpoint %s: attempt %s, %s%s",
        delivery.pk,
        delivery.event.public_id,
        delivery.endpoint_id,
        delivery.attempts,
        answer.status or answer.error,
        f", next at {delivery.next_attempt_at:%Y-%m-%d %H:%M:%S}"
        if delivery.next_attempt_at
        else f", {delivery.status}",
    )
    return delivery


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """Send a due webhook delivery once, signed, and record the answer. None when it is not
    due, already done, or another worker holds it. ``now`` (the sweeper's time) decides what
    is due; the signature's timestamp is the real time of sending."""
    now = now or timezone.now()
    if not _claim(Delivery.objects.filter(pk=delivery_id, endpoint__kind="webhook"), now=now):
        return None
    delivery = Delivery.objects.select_related("event", "endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        return _record(delivery, client.Answer(None, error="The endpoint is off."), at=now)
    body = delivery.event.body.encode()
    sent_at = timezone.now()
    secret = signing.endpoint_secret(endpoint.secret_salt)
    headers = {
        signing.HEADER: signing.signature_header(secret, int(sent_at.timestamp()), body),
        "Handoff-Event-Id": delivery.event.public_id,
        "Handoff-Event-Type": delivery.event.type,
        "Idempotency-Key": delivery.event.public_id,
        "Handoff-Delivery-Attempt": str(delivery.attempts + 1),
    }
    answer = client.post_json(endpoint.url, body, headers)
    return _record(delivery, answer, at=max(now, timezone.now()))


def slack_flush(*, now: datetime | None = None) -> int:
    """Post the Slack items that are due as one message (each in full for a few, a digest
    for many) and record the answer on each. Returns how many items were in it."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = Endpoint.objects.filter(kind=Endpoint.Kind.SLACK).first()
        if endpoint is None:
            return 0
        due = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(endpoint=endpoint, status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .select_related("event")
            .order_by("created_at", "id")[:SLACK_BATCH_MAX]
        )
        if not due:
            return 0
        _claim(Delivery.objects.filter(pk__in=[d.pk for d in due]), now=now)
    if not endpoint.is_active:
        answer = client.Answer(None, error="Slack is turned off.")
    else:
        items = [(d.event.type, json.loads(d.event.body)["data"]) for d in due]
        answer = client.post_json(endpoint.url, json.dumps(slack_message(items)).encode(), {})
    at = max(now, timezone.now())
    for delivery in due:
        delivery.endpoint = endpoint
        _record(delivery, answer, at=at)
    return len(due)
