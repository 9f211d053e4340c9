"""Reading Stripe's objects: a subscription, an invoice or a checkout session as Stripe sends
it (in the shapes of the pinned API version, ``client.API_VERSION``) turned into our values.

Stripe statuses map onto the mirror as follows: ``active``, ``trialing`` and ``past_due``
are kept; ``canceled``, ``unpaid`` (Stripe gave up collecting), ``incomplete_expired`` (the
first payment never came) and ``paused`` (a trial ended without a payment method) are
``canceled`` — the workspace is back on the default free plan; ``incomplete`` (the first
payment is still pending, e.g. 3-D Secure) changes nothing: the workspace keeps its plan
until the first payment succeeds and Stripe sends the subscription as ``active``.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from billing.models import Price, Subscription
from billing.stripe.prices import price_for_stripe_id

LIVE_STATUSES = {
    "active": Subscription.Status.ACTIVE,
    "trialing": Subscription.Status.TRIALING,
    "past_due": Subscription.Status.PAST_DUE,
}
ENDED_STATUSES = frozenset({"canceled", "unpaid", "incomplete_expired", "paused"})
NOT_STARTED = "incomplete"


class StripeDataError(Exception):
    """The event cannot be mirrored until someone fixes the data (for example a Stripe
    price no catalog price carries): the event fails, is not retried, and is replayed from
    the admin once fixed."""


def time_from(value: int | None) -> datetime | None:
    """A Unix time Stripe sent, as an aware datetime (None for none)."""
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def id_from(value: str | dict | None) -> str:
    """An id from a field that is an id, or the object when expanded."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return value or ""


def workspace_id_from(*candidates: object) -> int | None:
    """The first candidate that is a workspace id (Handoff puts it in the metadata and
    ``client_reference_id``)."""
    for candidate in candidates:
        if isinstance(candidate, int) or (isinstance(candidate, str) and candidate.isdigit()):
            return int(candidate)
    return None


@dataclass(frozen=True)
class SubscriptionState:
    """A Stripe subscription object, read into what the mirror should hold."""

    subscription_id: str
    customer_id: str
    stripe_status: str
    status: str | None  # the mirror's status; None while the first payment is pending
    price_id: str
    price: Price | None  # the catalog's price, for a live subscription
    seats: int
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    workspace_hint: int | None

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES.values()


def subscription_state(obj: dict[str, Any]) -> SubscriptionState:
    """Read a subscription object in the current API's shape: price, quantity and the
    current period live on the first item (``items.data[0]``)."""
    stripe_status = obj.get("status") or ""
    if stripe_status in LIVE_STATUSES:
        status: str | None = LIVE_STATUSES[stripe_status]
    elif stripe_status in ENDED_STATUSES:
        status = Subscription.Status.CANCELED
    elif stripe_status == NOT_STARTED:
        status = None
    else:
        raise StripeDataError(
            f"Subscription {obj.get('id')} has an unknown status {stripe_status!r}."
        )
    items = (obj.get("items") or {}).get("data") or []
    item = items[0] if items else {}
    price_id = id_from(item.get("price"))
    metadata = obj.get("metadata") or {}
    return SubscriptionState(
        subscription_id=obj["id"],
        customer_id=id_from(obj.get("customer")),
        stripe_status=stripe_status,
        status=status,
        price_id=price_id,
        price=price_for_stripe_id(price_id) if status in LIVE_STATUSES.values() else None,
        seats=int(item.get("quantity") or 1),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        canceled_at=time_from(obj.get("canceled_at")),
        trial_end=time_from(obj.get("trial_end")),
        current_period_start=time_from(item.get("current_period_start")),
        current_period_end=time_from(item.get("current_period_end")),
        workspace_hint=workspace_id_from(metadata.get("workspace_id")),
    )


def checkout_workspace_hint(session: dict[str, Any]) -> int | None:
    """The workspace a Checkout session names (``client_reference_id`` or metadata)."""
    return workspace_id_from(
        session.get("client_reference_id"), (session.get("metadata") or {}).get("workspace_id")
    )


def invoice_subscription_id(invoice: dict[str, Any]) -> str:
    """The subscription an invoice bills, or "" for none."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return id_from(details.get("subscription")) or id_from(invoice.get("subscription"))


def invoice_workspace_hint(invoice: dict[str, Any]) -> int | None:
    """The workspace an invoice's (or its subscription's) metadata names."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return workspace_id_from(
        (details.get("metadata") or {}).get("workspace_id"),
        (invoice.get("metadata") or {}).get("workspace_id"),
    )


def invoice_values(invoice: dict[str, Any], *, workspace_id: int) -> dict[str, Any]:
    """The ``Invoice`` mirror's fields for a Stripe invoice object."""
    return {
        "workspace_id": workspace_id,
        "number": invoice.get("number") or "",
        "status": invoice.get("status") or "",
        "amount_due_cents": invoice.get("amount_due") or 0,
        "amount_paid_cents": invoice.get("amount_paid") or 0,
        "currency": invoice.get("currency") or "usd",
        "hosted_invoice_url": invoice.get("hosted_invoice_url") or "",
        "period_start": time_from(invoice.get("period_start")),
        "period_end": time_from(invoice.get("period_end")),
        "created": time_from(invoice.get("created")) or timezone.now(),
    }
