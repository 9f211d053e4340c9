"""Events: every change to a local object emits a Stripe-shaped ``event``, stored (so
``events_since`` lists it, as Stripe's events API would) and posted to the webhook endpoint
once the change commits.
"""

from django.db import transaction

from billing.stripe.local.delivery import local_event_deliver
from billing.stripe.local.shapes import _event_object
from billing.stripe.local.store import _store


def _emit(event_type: str, obj: dict, *, previous: dict | None = None, automatic: bool = False):
    """Store a Stripe-shaped event and post it to the webhook endpoint once this commits."""
    event = _event_object(event_type=event_type, obj=obj, previous=previous, automatic=automatic)
    _store(event)

    event_id = event["id"]
    transaction.on_commit(lambda: local_event_deliver.delay(event_id), robust=True)
    return event
