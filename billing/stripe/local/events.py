"""Events: every change to a local object emits a Stripe-shaped ``event``, stored (so
``events_since`` lists it, as Stripe's events API would) and posted to the webhook endpoint
once the change commits.
"""

from datetime import datetime

from django.db import transaction

from billing.models import LocalStripeObject
from billing.stripe.local.delivery import local_event_deliver
from billing.stripe.local.shapes import _event_object
from billing.stripe.local.store import _store


def _clock_time(customer: LocalStripeObject, now: datetime) -> datetime | None:
    """The time to stamp a customer's events with: ``now`` on its clock when the customer
    is attached to a test clock (created at a frozen time, as Stripe's test clocks allow,
    past or future), else None (wall-clock time)."""
    return now if customer.data.get("test_clock") else None


def _emit(
    event_type: str,
    obj: dict,
    *,
    previous: dict | None = None,
    automatic: bool = False,
    clock_time: datetime | None = None,
):
    """Store a Stripe-shaped event and post it to the webhook endpoint once this commits.
    It is stamped with wall-clock time, or with ``clock_time`` for a customer on a test
    clock (``_clock_time``)."""
    event = _event_object(
        event_type=event_type,
        obj=obj,
        previous=previous,
        automatic=automatic,
        created=clock_time,
    )
    _store(event)

    event_id = event["id"]
    transaction.on_commit(lambda: local_event_deliver.delay(event_id), robust=True)
    return event
