"""Stripe events for the tests, built from Stripe's own example objects (``fixtures/``), and
the helpers that sign them and post them to the real webhook endpoint.

``StripeCustomer`` plays what Stripe does for one customer (checkout, seat and plan changes,
failed and recovered payments, cancellation, a new subscription later): each step changes
the subscription object the way Stripe would and returns the events Stripe would send, one
second apart unless asked otherwise. With a ``FakeStripe`` it also keeps the fake's copy of
the subscription current, so a fetch returns what Stripe holds now.
"""

import copy
import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client
from django.urls import reverse

from billing.stripe.client import API_VERSION
from billing.stripe.signing import signature_header

FIXTURES = Path(__file__).resolve().parent / "fixtures"
START = 1_790_000_000  # a Stripe timestamp (2026-09-21); event times count on from here
DAY = 86_400
_serial = itertools.count(1)


@cache
def _fixture(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of one of Stripe's example objects."""
    return json.loads(_fixture(name))


def unique(prefix: str) -> str:
    return f"{prefix}_T{next(_serial):06d}"


# Objects -----------------------------------------------------------------------------------


def subscription(
    *,
    subscription_id: str,
    customer_id: str,
    price_id: str,
    quantity: int,
    status: str = "active",
    workspace_id: int | None = None,
    created: int = START,
    period_start: int = START,
    period_days: int = 30,
    cancel_at_period_end: bool = False,
    canceled_at: int | None = None,
    trial_end: int | None = None,
    unit_amount: int = 1200,
    interval: str = "month",
    currency: str = "usd",
) -> dict[str, Any]:
    """A subscription in the current API's shape (price, quantity and period on the item)."""
    obj = fixture("subscription")
    obj.update(
        id=subscription_id,
        customer=customer_id,
        status=status,
        created=created,
        start_date=created,
        billing_cycle_anchor=period_start,
        metadata={"workspace_id": str(workspace_id)} if workspace_id is not None else {},
        cancel_at_period_end=cancel_at_period_end,
        cancel_at=period_start + period_days * DAY if cancel_at_period_end else None,
        canceled_at=canceled_at,
        ended_at=canceled_at if status == "canceled" else None,
        trial_start=created if trial_end else None,
        trial_end=trial_end,
        latest_invoice=None,
        pending_update=None,
        next_pending_invoice_item_invoice=None,
        transfer_data=None,
        currency=currency,
        discounts=[],
    )
    item = obj["items"]["data"][0]
    item.update(
        id=f"si_{subscription_id[4:]}",
        subscription=subscription_id,
        quantity=quantity,
        created=created,
        current_period_start=period_start,
        current_period_end=period_start + period_days * DAY,
    )
    set_price(
        item, price_id=price_id, unit_amount=unit_amount, interval=interval, currency=currency
    )
    obj["items"]["url"] = f"/v1/subscription_items?subscription={subscription_id}"
    return obj


def set_price(
    item: dict[str, Any],
    *,
    price_id: str,
    unit_amount: int,
    interval: str = "month",
    currency: str = "usd",
    **fields: Any,
) -> None:
    """Put a recurring per-unit price on a subscription item (and its legacy ``plan``);
    ``fields`` override the price's other fields (``billing_scheme``, ``tiers`` …)."""
    item["price"].update(
        {
            "id": price_id,
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
            "currency": currency,
            "transform_quantity": None,
            "billing_scheme": "per_unit",
            "tiers_mode": None,
            "recurring": {
                "interval": interval,
                "interval_count": 1,
                "meter": None,
                "usage_type": "licensed",
                "trial_period_days": None,
            },
        }
        | fields
    )
    item["plan"].update(
        id=price_id,
        amount=unit_amount,
        amount_decimal=str(unit_amount),
        billing_scheme=item["price"]["billing_scheme"],
        currency=currency,
        interval=interval,
        interval_count=1,
        transform_usage=None,
    )


def discount(
    *,
    subscription_id: str,
    customer_id: str,
    start: int,
    duration: str,
    percent_off: float | None = None,
    amount_off: int | None = None,
    duration_in_months: int | None = None,
    currency: str = "usd",
) -> dict[str, Any]:
    """A discount on a subscription with its coupon, as Stripe returns it expanded
    (``expand[]=discounts``): a ``repeating`` one ends ``duration_in_months`` after its start
    (30-day months here)."""
    coupon = fixture("coupon")
    coupon.update(
        id=unique("coupon"),
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency if amount_off is not None else None,
        duration=duration,
        duration_in_months=duration_in_months if duration == "repeating" else None,
        name=f"{percent_off}% off" if percent_off is not None else f"{amount_off} off",
        redeem_by=None,
        times_redeemed=1,
    )
    obj = fixture("discount")
    obj.update(
        id=unique("di"),
        customer=customer_id,
        subscription=subscription_id,
        start=start,
        end=start + duration_in_months * 30 * DAY if duration == "repeating" else None,
        source={"coupon": coupon, "type": "coupon"},
    )
    return obj


def checkout_session(
    *,
    session_id: str,
    workspace_id: int,
    customer_id: str,
    subscription_id: str,
    created: int = START,
    amount_total: int = 0,
) -> dict[str, Any]:
    """A completed subscription-mode Checkout session, as ``gateway.checkout_start`` makes."""
    obj = fixture("checkout_session")
    obj.update(
        id=session_id,
        mode="subscription",
        status="complete",
        payment_status="paid",
        client_reference_id=str(workspace_id),
        metadata={"workspace_id": str(workspace_id)},
        customer=customer_id,
        subscription=subscription_id,
        payment_intent=None,
        created=created,
        expires_at=created + DAY,
        currency="usd",
        amount_subtotal=amount_total,
        amount_total=amount_total,
        url=None,
    )
    return obj


def invoice(
    *,
    invoice_id: str,
    customer_id: str,
    subscription_id: str,
    workspace_id: int | None,
    status: str,
    amount: int,
    created: int,
    period_start: int,
    period_end: int,
) -> dict[str, Any]:
    """A subscription invoice; in the current API its subscription is under
    ``parent.subscription_details``."""
    obj = fixture("invoice")
    paid = status == "paid"
    obj.update(
        id=invoice_id,
        customer=customer_id,
        status=status,
        number=f"HANDOFF-{invoice_id[-6:]}",
        amount_due=amount,
        amount_paid=amount if paid else 0,
        amount_remaining=0 if paid else amount,
        subtotal=amount,
        subtotal_excluding_tax=amount,
        total=amount,
        total_excluding_tax=amount,
        attempted=True,
        attempt_count=1,
        billing_reason="subscription_cycle",
        created=created,
        period_start=period_start,
        period_end=period_end,
        hosted_invoice_url=f"https://invoice.stripe.com/i/{invoice_id}",
        parent={
            "quote_details": None,
            "subscription_details": {
                "metadata": {"workspace_id": str(workspace_id)} if workspace_id else {},
                "subscription": subscription_id,
            },
            "type": "subscription_details",
        },
    )
    line = obj["lines"]["data"][0]
    line.update(invoice=invoice_id, amount=amount, subtotal=amount)
    line["period"] = {"start": period_start, "end": period_end}
    line["parent"]["subscription_item_details"]["subscription"] = subscription_id
    line["parent"]["type"] = "subscription_item_details"
    obj["lines"]["url"] = f"/v1/invoices/{invoice_id}/lines"
    obj["status_transitions"]["paid_at"] = created if paid else None
    return obj


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    created: int,
    event_id: str | None = None,
    previous_attributes: dict | None = None,
    api_version: str | None = API_VERSION,
) -> dict[str, Any]:
    """An event around a copy of ``obj``, in the shape of Stripe's example event, rendered
    in ``api_version`` (the pinned one unless a test says otherwise). As in Stripe's
    events, a subscription's discounts are their ids (the fake Stripe returns them
    expanded)."""
    obj = copy.deepcopy(obj)
    if obj.get("object") == "subscription":
        for holder in [obj, *obj["items"]["data"]]:
            holder["discounts"] = [
                d["id"] if isinstance(d, dict) else d for d in holder.get("discounts") or []
            ]
    evt = fixture("event")
    evt.update(
        id=event_id or unique("evt"),
        type=event_type,
        created=created,
        api_version=api_version,
        pending_webhooks=1,
        data={"object": copy.deepcopy(obj)},
    )
    if previous_attributes is not None:
        evt["data"]["previous_attributes"] = previous_attributes
    return evt


# Signing and posting -----------------------------------------------------------------------


def body_of(evt: dict[str, Any]) -> bytes:
    return json.dumps(evt).encode()


def signed_headers(body: bytes, *, secret: str | None = None, timestamp: int | None = None):
    header = signature_header(body, secret or settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp)
    return {"HTTP_STRIPE_SIGNATURE": header}


def post_event(
    client: Client,
    evt: dict[str, Any],
    *,
    secret: str | None = None,
    timestamp: int | None = None,
):
    """POST ``evt`` signed with Stripe's scheme to the real endpoint."""
    body = body_of(evt)
    return client.post(
        reverse("stripe_webhook"),
        data=body,
        content_type="application/json",
        **signed_headers(body, secret=secret, timestamp=timestamp),
    )


# A customer's life at Stripe ---------------------------------------------------------------


class StripeCustomer:
    """What Stripe does for one customer, step by step, and the events it sends."""

    def __init__(
        self,
        *,
        workspace_id: int,
        prices: dict[str, tuple[str, int]],
        fake=None,
        clock: int = START,
        name: str | None = None,
    ) -> None:
        self.workspace_id = workspace_id
        self.prices = prices  # key → (Stripe price id, unit amount)
        self.fake = fake
        self.clock = clock
        self.customer_id = f"cus_{name or unique('C')}"
        self.subscription: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        # key → price fields other than id and amount (currency, billing_scheme, tiers …)
        self.price_fields: dict[str, dict[str, Any]] = {}

    # Time ----------------------------------------------------------------------------------

    def tick(self, seconds: int = 1) -> int:
        self.clock += seconds
        return self.clock

    def _emit(self, event_type: str, obj: dict, *, at: int, **kwargs) -> dict[str, Any]:
        evt = event(event_type, obj, created=at, **kwargs)
        self.events.append(evt)
        if self.fake is not None:
            self.fake.put_event(evt)
        return evt

    def _publish(self) -> None:
        if self.fake is not None and self.subscription is not None:
            self.fake.put_subscription(self.subscription)

    def price_terms(self, key: str) -> dict[str, Any]:
        """The Stripe price fields of the price ``key`` names: its id and unit amount, its
        interval (``…_yearly`` keys are yearly) and any fields set in ``price_fields``."""
        price_id, amount = self.prices[key]
        fields = {"interval": "year" if key.endswith("_yearly") else "month"}
        return (
            {"price_id": price_id, "unit_amount": amount} | fields | self.price_fields.get(key, {})
        )

    def discount(self, **coupon: Any) -> dict[str, Any]:
        """A discount on the current subscription (``discount()``'s arguments)."""
        return discount(
            subscription_id=self.subscription["id"], customer_id=self.customer_id, **coupon
        )

    def _item(self) -> dict[str, Any]:
        assert self.subscription is not None
        return self.subscription["items"]["data"][0]

    def _invoice(self, status: str, *, at: int) -> dict[str, Any]:
        item = self._item()
        return invoice(
            invoice_id=unique("in"),
            customer_id=self.customer_id,
            subscription_id=self.subscription["id"],
            workspace_id=self.workspace_id,
            status=status,
            amount=(item["price"]["unit_amount"] or 0) * item["quantity"],
            created=at,
            period_start=item["current_period_start"],
            period_end=item["current_period_end"],
        )

    # Steps ---------------------------------------------------------------------------------

    def subscribe(
        self,
        price: str,
        seats: int,
        *,
        trial_days: int = 0,
        same_second: bool = False,
        coupon: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Checkout completes: a new subscription (trialing if ``trial_days``); ``coupon``
        is ``discount()``'s arguments for a coupon redeemed at checkout."""
        at = self.clock if same_second else self.tick()
        terms = self.price_terms(price)
        self.subscription = subscription(
            subscription_id=unique("sub"),
            customer_id=self.customer_id,
            price_id=terms["price_id"],
            unit_amount=terms["unit_amount"],
            interval=terms["interval"],
            currency=terms.get("currency", "usd"),
            quantity=seats,
            status="trialing" if trial_days else "active",
            workspace_id=self.workspace_id,
            created=at,
            period_start=at,
            period_days=trial_days or 30,
            trial_end=at + trial_days * DAY if trial_days else None,
        )
        set_price(self._item(), **terms)
        if coupon is not None:
            self.subscription["discounts"] = [self.discount(start=at, **coupon)]
        self._publish()
        session = checkout_session(
            session_id=unique("cs"),
            workspace_id=self.workspace_id,
            customer_id=self.customer_id,
            subscription_id=self.subscription["id"],
            created=at,
        )
        events = [self._emit("customer.subscription.created", self.subscription, at=at)]
        events.append(self._emit("checkout.session.completed", session, at=at))
        if not trial_days:
            events.append(self._emit("invoice.paid", self._invoice("paid", at=at), at=at))
        return events

    def update(self, *, same_second: bool = False, **changes) -> dict[str, Any]:
        """Any change to the subscription: ``price=``, ``seats=``, ``status=``,
        ``cancel_at_period_end=`` …; one ``customer.subscription.updated``."""
        at = self.clock if same_second else self.tick()
        item = self._item()
        previous: dict[str, Any] = {}
        if "price" in changes:
            terms = self.price_terms(changes.pop("price"))
            previous["items"] = copy.deepcopy(self.subscription["items"])
            set_price(item, **terms)
            self.subscription["currency"] = item["price"]["currency"]
        if "add_item" in changes:  # (price key, quantity): one more item, an add-on say
            key, quantity = changes.pop("add_item")
            previous.setdefault("items", copy.deepcopy(self.subscription["items"]))
            added = copy.deepcopy(item)
            added.update(id=unique("si"), quantity=quantity, discounts=[])
            set_price(added, **self.price_terms(key))
            self.subscription["items"]["data"].append(added)
        if "seats" in changes:
            previous.setdefault("items", copy.deepcopy(self.subscription["items"]))
            item["quantity"] = changes.pop("seats")
        for key, value in changes.items():
            previous[key] = self.subscription.get(key)
            self.subscription[key] = value
        self._publish()
        return self._emit(
            "customer.subscription.updated", self.subscription, at=at, previous_attributes=previous
        )

    def payment_fails(self) -> list[dict[str, Any]]:
        """A renewal's payment fails: the invoice, then the subscription goes past due."""
        at = self.tick()
        failed = self._emit("invoice.payment_failed", self._invoice("open", at=at), at=at)
        return [failed, self.update(status="past_due", same_second=True)]

    def payment_recovers(self) -> list[dict[str, Any]]:
        """The customer pays: the invoice is paid and the subscription active again."""
        at = self.tick()
        paid = self._emit("invoice.paid", self._invoice("paid", at=at), at=at)
        return [paid, self.update(status="active", same_second=True)]

    def trial_will_end(self) -> dict[str, Any]:
        return self._emit("customer.subscription.trial_will_end", self.subscription, at=self.tick())

    def cancel(self) -> dict[str, Any]:
        """The subscription ends (``customer.subscription.deleted``)."""
        at = self.tick()
        self.subscription.update(status="canceled", canceled_at=at, ended_at=at)
        self._publish()
        return self._emit("customer.subscription.deleted", self.subscription, at=at)
