"""Processing one stored Stripe event: the entry point the ``stripe_event_process`` task
and reconciliation call (``stripe_event_apply``). It dispatches the event to its handler
and records what came of it, or the error.

* **Once.** The StripeEvent row is locked and its status checked; an event processed or
  skipped before is never applied again; an event places at most one state in the revenue
  history, and links at most one original RevenueMovement (the corrections a late event
  makes are linked to the movements they correct).
* **Fetching.** Stripe is called only when a handler says the payload alone cannot be
  applied safely (``FetchNeeded``), never on the normal path, and never while a row lock
  is held: the transaction rolls back, the subscription is fetched, and the event is
  processed again with the fetched state.
* **API version.** The handlers read Stripe's objects in the shapes of the pinned API
  version (``client.API_VERSION``; any version of its release, which differ only by
  additions). An event rendered in another version (a webhook endpoint created with an
  older one, or with none) is refused: stored as failed with the reason, shown as a warning
  in the admin, and nothing of it applied, since an older shape reads as empty billing
  periods.
"""

import logging
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import StripeEvent
from billing.stripe.client import API_RELEASE, API_VERSION, StripeUnavailable
from billing.stripe.gateway import gateway
from billing.stripe.handlers import HANDLERS, Context
from billing.stripe.mirror import FetchNeeded, Outcome, skipped

logger = logging.getLogger(__name__)

DONE = frozenset({StripeEvent.Status.PROCESSED, StripeEvent.Status.SKIPPED})
MAX_FETCHES = 2

# How the reason of an event refused for its API version starts (the admin looks for it).
UNSUPPORTED_VERSION = "Unsupported Stripe API version"


def event_version_problem(api_version: object) -> str:
    """Why the handlers cannot read an event rendered in ``api_version``, or "" when they
    can: any version of the pinned version's release (``2026-…-…endive``)."""
    if isinstance(api_version, str) and api_version.rpartition(".")[2] == API_RELEASE:
        return ""
    rendered = f"version {api_version}" if api_version else "no API version"
    return (
        f"{UNSUPPORTED_VERSION}: the event is rendered in {rendered}, and Handoff reads "
        f"version {API_VERSION} (or another “{API_RELEASE}” version). Nothing was applied. "
        f"Create the webhook endpoint with API version {API_VERSION} (README, “Going live on "
        "Stripe”; manage.py stripe_check tells what is missing); meanwhile manage.py "
        "reconcile_stripe repairs the subscriptions from Stripe."
    )


def _process_once(*, event_id: int, fetched: dict[str, Any] | None) -> str:
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return "missing"
        if event.status in DONE:
            return event.status
        handler = HANDLERS.get(event.type)
        if handler is None:
            outcome = skipped(f"{event.type} is not handled")
        elif problem := event_version_problem(event.payload.get("api_version")):
            logger.warning("stripe event %s refused: %s", event.stripe_id, problem)
            outcome = Outcome(StripeEvent.Status.FAILED, problem)
        else:
            outcome = handler(
                Context(event=event, at=event.created, obj=event.object, fetched=fetched)
            )
        event.status = outcome.status
        event.error = outcome.reason
        event.attempts += 1
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at"])
        return event.status


# Errors that say "try again later", not "this event is wrong".
TRANSIENT_ERRORS = (StripeUnavailable, OperationalError, SoftTimeLimitExceeded)


def _failure_record(event_id: int, exc: BaseException) -> None:
    """A transient error (Stripe or the database unreachable, a time limit) leaves the event
    pending, so the task's retries and, after them, the periodic requeue try again; any other
    error marks it failed for a billing admin to fix and replay."""
    status = (
        StripeEvent.Status.PENDING
        if isinstance(exc, TRANSIENT_ERRORS)
        else StripeEvent.Status.FAILED
    )
    try:
        StripeEvent.objects.filter(pk=event_id).exclude(status__in=DONE).update(
            status=status,
            error=f"{type(exc).__name__}: {exc}"[:4000],
            attempts=F("attempts") + 1,
        )
    except Exception:  # the database itself may be what failed; the retry will tell
        logger.exception("stripe event %s: could not record the failure", event_id)


def stripe_event_apply(*, event_id: int) -> str:
    """Apply one stored Stripe event through its handler, once: returns its status
    afterwards ("processed", "skipped", or "missing" when there is no such event). Safe to
    run twice and concurrently (the event row is locked; a done event returns at once). On
    an error the event records it with one more attempt (staying pending when the error is
    transient, failed otherwise), and the error is raised again for the task to retry."""
    fetched: dict[str, Any] | None = None
    try:
        for _ in range(MAX_FETCHES + 1):
            try:
                return _process_once(event_id=event_id, fetched=fetched)
            except FetchNeeded as need:
                logger.info("stripe event %s: %s", event_id, need)
                fetched = gateway().subscription_retrieve(need.subscription_id)
        raise RuntimeError("the subscription kept changing while it was being fetched")
    except Exception as exc:
        _failure_record(event_id, exc)
        raise
