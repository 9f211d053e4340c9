"""Outbound's Celery tasks: one webhook delivery's attempt, a Slack flush, the sweeper
(beat, every minute) and the weekly digest (beat, Mondays). Each is safe to run twice: an
attempt claims its delivery first, and the digest records its week."""

from collections.abc import Sequence
from datetime import datetime

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from outbound import digest, retention, selectors, sending
from outbound.models import Endpoint

TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "max_retries": 3,
    "soft_time_limit": 60,
    "time_limit": 90,
}
# How long Slack items gather before a flush, so a burst becomes one digest message.
SLACK_GATHER_SECONDS = 20
SWEEP_LIMIT = 500


def _when(now: str | None) -> datetime | None:
    return datetime.fromisoformat(now) if now else None


@shared_task(name="outbound.tasks.delivery_send", **TASK_OPTIONS)
def delivery_send(delivery_id: int, now: str | None = None) -> str:
    delivery = sending.delivery_attempt(delivery_id=delivery_id, now=_when(now))
    if delivery is None:
        return "not due"
    return f"attempt {delivery.attempts}: {delivery.last_status_code or delivery.last_error}"


@shared_task(name="outbound.tasks.slack_flush", **TASK_OPTIONS)
def slack_flush(now: str | None = None) -> str:
    return f"{sending.slack_flush(now=_when(now))} items posted"


def deliveries_dispatch(delivery_ids: Sequence[int]) -> None:
    """Queue new deliveries (after the commit that wrote them): each webhook delivery on its
    own, the Slack ones in one flush a few seconds later."""
    kinds = selectors.delivery_kinds(delivery_ids=delivery_ids)
    for pk in delivery_ids:
        if kinds.get(pk) == Endpoint.Kind.WEBHOOK:
            delivery_send.delay(pk)
    if Endpoint.Kind.SLACK in kinds.values():
        slack_flush.apply_async(countdown=SLACK_GATHER_SECONDS)


def deliveries_queue_due(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Queue every delivery that is due (a first attempt whose message was lost, a retry
    whose time has come, an attempt whose worker died), as of ``now``. Returns how many."""
    now = now or timezone.now()
    due = selectors.deliveries_due(now=now, limit=limit)
    for pk, kind in due:
        if kind == Endpoint.Kind.WEBHOOK:
            delivery_send.delay(pk, now.isoformat())
    if any(kind == Endpoint.Kind.SLACK for _, kind in due):
        slack_flush.delay(now.isoformat())
    return len(due)


@shared_task(name="outbound.tasks.deliveries_sweep", **TASK_OPTIONS)
def deliveries_sweep() -> str:
    """Queue what is due, and let go of events past their keeping time."""
    queued = deliveries_queue_due()
    return f"{queued} due deliveries queued, {retention.events_prune()} old events deleted"


@shared_task(name="outbound.tasks.weekly_digest", **TASK_OPTIONS)
def weekly_digest() -> str:
    return f"digest sent to {digest.weekly_digest_send()} managers"
