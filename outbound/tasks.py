"""Outbound's Celery tasks: one delivery's attempt, a Slack flush, the sweeper (beat, every
minute) and the weekly digest (beat, Mondays). Each is safe to run twice: an attempt claims
its delivery first, and the digest records its week."""

from datetime import datetime

from celery import shared_task
from django.db import OperationalError

from outbound import digest, services

TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "max_retries": 3,
    "soft_time_limit": 60,
    "time_limit": 90,
}


def _when(now: str | None) -> datetime | None:
    return datetime.fromisoformat(now) if now else None


@shared_task(name="outbound.tasks.delivery_send", **TASK_OPTIONS)
def delivery_send(delivery_id: int, now: str | None = None) -> str:
    delivery = services.delivery_attempt(delivery_id=delivery_id, now=_when(now))
    if delivery is None:
        return "not due"
    return f"attempt {delivery.attempts}: {delivery.last_status_code or delivery.last_error}"


@shared_task(name="outbound.tasks.slack_flush", **TASK_OPTIONS)
def slack_flush(now: str | None = None) -> str:
    return f"{services.slack_flush(now=_when(now))} items posted"


@shared_task(name="outbound.tasks.deliveries_sweep", **TASK_OPTIONS)
def deliveries_sweep() -> str:
    return f"{services.deliveries_sweep()} due deliveries queued"


@shared_task(name="outbound.tasks.weekly_digest", **TASK_OPTIONS)
def weekly_digest() -> str:
    return f"digest sent to {digest.weekly_digest_send()} managers"
