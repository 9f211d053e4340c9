"""Cards and invoices: the documented test cards, attaching one to a customer, invoicing a
customer and charging its default card.

Test cards (as Stripe documents them)

* ``4242 4242 4242 4242`` — succeeds.
* ``4000 0000 0000 0341`` — attaches to the customer, then every payment fails: the first
  invoice fails (``invoice.payment_failed``) and the subscription is past due.
* ``4000 0000 0000 0002`` — declined outright: the checkout page says so and nothing is
  created.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse

from billing.models import LocalStripeObject
from billing.stripe.client import StripeRefused
from billing.stripe.local.events import _clock_time, _emit
from billing.stripe.local.shapes import Line, _invoice_object, _new_id, _payment_method_object, _ts
from billing.stripe.local.store import _store

CARD_SUCCEEDS = "4242424242424242"
CARD_FAILS_AFTER_ATTACHING = "4000000000000341"
CARD_DECLINED = "4000000000000002"
TEST_CARDS = {
    CARD_SUCCEEDS: "succeeds",
    CARD_FAILS_AFTER_ATTACHING: "attaches, then every payment fails",
    CARD_DECLINED: "declined",
}


class CardDeclined(StripeRefused):
    """The test card was declined, or is not one of the documented test cards."""


def _card_attach(customer: LocalStripeObject, number: str, now: datetime) -> dict[str, Any]:
    """Attach a test card and make it the customer's default; raises ``CardDeclined`` for
    the declined card and for numbers that are not test cards."""
    number = "".join(ch for ch in number if ch.isdigit())
    if number not in TEST_CARDS:
        raise CardDeclined(
            "Use a test card: 4242 4242 4242 4242 (succeeds) or 4000 0000 0000 0341 "
            "(attaches, then payments fail)."
        )
    if number == CARD_DECLINED:
        raise CardDeclined("Your card was declined.")
    method = _payment_method_object(customer=customer.data, number=number, created=_ts(now))
    _store(method, private={"fails": number == CARD_FAILS_AFTER_ATTACHING})
    customer.data["invoice_settings"]["default_payment_method"] = method["id"]
    customer.private["card_fails"] = number == CARD_FAILS_AFTER_ATTACHING
    customer.private["card_last4"] = number[-4:]
    return method


def _invoice_create(
    *,
    customer: LocalStripeObject,
    subscription: dict[str, Any],
    lines: list[Line],
    billing_reason: str,
    now: datetime,
) -> dict[str, Any]:
    invoice_id = _new_id("in")
    origin = customer.private.get("origin") or settings.HANDOFF_SITE_URL.rstrip("/")
    invoice = _invoice_object(
        invoice_id=invoice_id,
        customer=customer.data,
        subscription=subscription,
        lines=lines,
        billing_reason=billing_reason,
        hosted_url=origin + reverse("local_invoice", args=[invoice_id]),
        created=_ts(now),
    )
    customer.data["next_invoice_sequence"] += 1
    customer.data["balance"] = invoice["ending_balance"]
    return invoice


def _invoice_pay(customer: LocalStripeObject, invoice: dict[str, Any], now: datetime) -> bool:
    """Charge the customer's default card for an open invoice: paid (nothing to charge, or
    a card that works), or one more failed attempt."""
    card = customer.data["invoice_settings"]["default_payment_method"]
    if invoice["amount_remaining"] and (card is None or customer.private.get("card_fails")):
        invoice.update(
            attempted=True,
            attempt_count=invoice["attempt_count"] + 1,
            next_payment_attempt=_ts(now + timedelta(days=3)),
        )
        return False
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        attempted=True,
        attempt_count=invoice["attempt_count"] + (1 if invoice["amount_due"] else 0),
        next_payment_attempt=None,
        default_payment_method=card,
    )
    invoice["status_transitions"]["paid_at"] = _ts(now)
    return True


def _store_invoice_and_emit(
    customer: LocalStripeObject, invoice: dict, *, paid: bool, now: datetime
) -> None:
    _store(invoice)
    _emit(
        "invoice.paid" if paid else "invoice.payment_failed",
        invoice,
        automatic=True,
        clock_time=_clock_time(customer, now),
    )
