"""The offline local gateway: Stripe's part, played inside Handoff when no Stripe key is set
(the embedded default), the way Saleor ships a dummy payment gateway.

"Stripe's side" lives in one table, ``billing.LocalStripeObject``: customers, payment
methods, checkout sessions, subscriptions, invoices, portal sessions and events, each in
exactly the JSON shape Stripe's API sends (built from Stripe's published examples,
``stripe/openapi`` ``fixtures3.json``, with local ids: ``cus_local_…``, ``sub_local_…``,
``in_local_…``, ``cs_local_…``, ``evt_local_…``; prices are ``price_local_<pk>``).

Every change emits Stripe-shaped ``event`` objects, signed with Stripe's scheme and the
``STRIPE_WEBHOOK_SECRET``, and POSTed over HTTP to ``HANDOFF_SITE_URL`` + the webhook
endpoint — the one Stripe itself would call — by a Celery task enqueued once the change
commits (``billing.tasks_local``). So the whole real webhook path runs offline: signature
check, storage, processing, the mirror and the revenue ledger. Events are kept, so
``events_since`` lists them for reconciliation as Stripe's events API would; an event's
``pending_webhooks`` drops to 0 once the endpoint answered 2xx.

Test cards (as Stripe documents them)

* ``4242 4242 4242 4242`` — succeeds.
* ``4000 0000 0000 0341`` — attaches to the customer, then every payment fails: the first
  invoice fails (``invoice.payment_failed``) and the subscription is past due.
* ``4000 0000 0000 0002`` — declined outright: the checkout page says so and nothing is
  created.

Proration (previews and changes), in integer cents

* An item's amount is its price's unit amount times its quantity, for one period.
* Unused time of the old item is credited and the new item is charged pro rata by the
  seconds left in the current period: ``amount x seconds left ÷ seconds in the period``,
  each line rounded to the nearest cent (halves up).
* Changing the interval (monthly ↔ yearly) starts a new period now: the old item's unused
  time is credited and a whole period of the new item is charged.
* During a trial nothing is prorated: the new item is what the trial converts to.
* What is due now is the charge less the credit less any credit balance, never below zero;
  what is left over stays as the customer's credit balance (Stripe's ``balance``, negative)
  and is taken off the next invoices. A change that costs something is invoiced and paid at
  once (Stripe's ``proration_behavior=always_invoice``).

Time: each customer has its own clock, wall-clock time plus an offset that only the
staff-only time tool moves forward (Stripe's test clocks, simplified). Advancing a clock
runs what falls due — trial ends, renewals, cancellations at period end — and emits their
events. Events are stamped with wall-clock time, so their order stays the order they were
sent in.
"""

import calendar
import copy
import json
import logging
import math
import secrets
import string
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Workspace
from billing.models import LocalStripeObject, Price, Subscription
from billing.stripe.client import API_VERSION, StripeRefused, StripeUnavailable
from billing.stripe.gateway import ChangePreview, CheckoutStart, demo_billing_active
from billing.stripe.prices import price_for_stripe_id, stripe_price_id
from billing.stripe.signing import signature_header

logger = logging.getLogger(__name__)

CARD_SUCCEEDS = "4242424242424242"
CARD_FAILS_AFTER_ATTACHING = "4000000000000341"
CARD_DECLINED = "4000000000000002"
TEST_CARDS = {
    CARD_SUCCEEDS: "succeeds",
    CARD_FAILS_AFTER_ATTACHING: "attaches, then every payment fails",
    CARD_DECLINED: "declined",
}
CHECKOUT_SESSION_TTL = timedelta(hours=24)
TRIAL_WILL_END_NOTICE = timedelta(days=3)
DELIVERY_TIMEOUT = 10  # seconds
LIVE_STATUSES = ("trialing", "active", "past_due")


class CardDeclined(StripeRefused):
    """The test card was declined, or is not one of the documented test cards."""


class CheckoutUnavailable(StripeRefused):
    """The checkout session cannot be paid any more (completed or expired)."""

    status = 409


# Ids, time, amounts -----------------------------------------------------------------------

_ALPHABET = string.ascii_letters + string.digits


def _new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_local_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _dt(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def add_interval(moment: datetime, interval: str, count: int = 1) -> datetime:
    """One billing interval later, on the same day of the month (clamped to the month's
    last day, as Stripe does: Jan 31 + 1 month = Feb 28/29)."""
    months = count * (12 if interval == "year" else 1)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def prorated(amount_cents: int, *, seconds_left: int, seconds_in_period: int) -> int:
    """``amount`` for the part of the period left, in whole cents (halves up)."""
    if seconds_in_period <= 0:
        return 0
    seconds_left = max(0, min(seconds_left, seconds_in_period))
    return _round_half_up(amount_cents * seconds_left, seconds_in_period)


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return settings.HANDOFF_SITE_URL.rstrip("/")


# Stripe's object shapes -------------------------------------------------------------------


def _price_object(price: Price) -> dict[str, Any]:
    return {
        "active": price.is_active,
        "billing_scheme": "per_unit",
        "created": _ts(price.created_at),
        "currency": price.currency,
        "custom_unit_amount": None,
        "id": stripe_price_id(price, local=True),
        "livemode": False,
        "lookup_key": None,
        "metadata": {"plan": price.plan.code, "scheme": price.scheme},
        "nickname": f"{price.plan.name} {price.get_interval_display().lower()}",
        "object": "price",
        "product": f"prod_local_{price.plan_id}",
        "recurring": {
            "interval": price.interval,
            "interval_count": 1,
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": price.plan.trial_days or None,
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": price.amount_cents,
        "unit_amount_decimal": str(price.amount_cents),
    }


def _plan_object(price: Price) -> dict[str, Any]:
    """The legacy ``plan`` Stripe still nests in subscription items."""
    return {
        "active": price.is_active,
        "amount": price.amount_cents,
        "amount_decimal": str(price.amount_cents),
        "billing_scheme": "per_unit",
        "created": _ts(price.created_at),
        "currency": price.currency,
        "id": stripe_price_id(price, local=True),
        "interval": price.interval,
        "interval_count": 1,
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": None,
        "object": "plan",
        "product": f"prod_local_{price.plan_id}",
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": price.plan.trial_days or None,
        "usage_type": "licensed",
    }


def _item_object(
    *, item_id: str, subscription_id: str, price: Price, quantity: int, start: int, end: int
) -> dict[str, Any]:
    return {
        "billing_thresholds": None,
        "created": start,
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "id": item_id,
        "metadata": {},
        "object": "subscription_item",
        "plan": _plan_object(price),
        "price": _price_object(price),
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def _customer_object(
    *, customer_id: str, email: str, workspace: Workspace | None, created: int
) -> dict[str, Any]:
    return {
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": workspace.name if workspace else None,
        "discount": None,
        "email": email or None,
        "id": customer_id,
        "invoice_prefix": "".join(secrets.choice(string.ascii_uppercase) for _ in range(8)),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {"workspace_id": str(workspace.pk)} if workspace else {},
        "name": workspace.name if workspace else None,
        "next_invoice_sequence": 1,
        "object": "customer",
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _payment_method_object(*, customer: dict[str, Any], number: str, created: int) -> dict:
    return {
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": customer["email"],
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": "visa",
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": "visa",
            "exp_month": 12,
            "exp_year": _dt(created).year + 3,
            "fingerprint": number[-8:] + "local",
            "funding": "credit",
            "generated_from": None,
            "last4": number[-4:],
            "networks": {"available": ["visa"], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created,
        "customer": customer["id"],
        "customer_account": None,
        "id": _new_id("pm"),
        "livemode": False,
        "metadata": {},
        "object": "payment_method",
        "type": "card",
    }


def _checkout_session_object(
    *,
    session_id: str,
    workspace: Workspace,
    customer_id: str,
    customer_email: str,
    amount_total: int,
    currency: str,
    success_url: str,
    cancel_url: str,
    url: str,
    created: int,
) -> dict[str, Any]:
    return {
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": str(workspace.pk),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer_id or None,
        "customer_account": None,
        "customer_creation": None if customer_id else "always",
        "customer_details": None,
        "customer_email": None if customer_id else (customer_email or None),
        "discounts": [],
        "expires_at": created + int(CHECKOUT_SESSION_TTL.total_seconds()),
        "id": session_id,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": None,
        "managed_payments": {"enabled": False},
        "metadata": {"workspace_id": str(workspace.pk)},
        "mode": "subscription",
        "object": "checkout.session",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }


def _subscription_object(
    *,
    subscription_id: str,
    customer: dict[str, Any],
    item: dict[str, Any],
    metadata: dict[str, str],
    status: str,
    start: int,
    trial_end: int | None,
) -> dict[str, Any]:
    return {
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": item["current_period_end"] if trial_end else start,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": start,
        "currency": item["price"]["currency"],
        "customer": customer["id"],
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": customer["invoice_settings"]["default_payment_method"],
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "id": subscription_id,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "data": [item],
            "has_more": False,
            "object": "list",
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "object": "subscription",
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": start,
        "status": status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": start if trial_end else None,
    }


@dataclass(frozen=True)
class Line:
    """One invoice line: a period of an item, or a proration of it (negative: a credit)."""

    amount: int
    description: str
    price: Price
    quantity: int
    start: int
    end: int
    proration: bool = False


def _line_object(*, line: Line, invoice_id: str, subscription: dict[str, Any]) -> dict:
    item_id = subscription["items"]["data"][0]["id"]
    return {
        "amount": line.amount,
        "currency": line.price.currency,
        "description": line.description,
        "discount_amounts": [],
        "discountable": not line.proration,
        "discounts": [],
        "id": _new_id("il"),
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(subscription["metadata"]),
        "object": "line_item",
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": line.proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
                "subscription_item": item_id,
            },
            "type": "subscription_item_details",
        },
        "period": {"end": line.end, "start": line.start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {
                "price": stripe_price_id(line.price, local=True),
                "product": f"prod_local_{line.price.plan_id}",
            },
            "type": "price_details",
            "unit_amount_decimal": str(line.price.amount_cents),
        },
        "quantity": line.quantity,
        "quantity_decimal": str(line.quantity),
        "subscription": subscription["id"],
        "subtotal": line.amount,
        "taxes": [],
    }


def _invoice_object(
    *,
    invoice_id: str,
    customer: dict[str, Any],
    subscription: dict[str, Any],
    lines: list[Line],
    billing_reason: str,
    hosted_url: str,
    created: int,
) -> dict[str, Any]:
    subtotal = sum(line.amount for line in lines)
    starting_balance = customer["balance"]
    # A credit balance (negative) is taken off; a leftover credit stays on the customer.
    total = subtotal
    amount_due = max(0, total + starting_balance)
    ending_balance = min(0, total + starting_balance)
    number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    return {
        "account_country": "US",
        "account_name": "Handoff (local)",
        "account_tax_ids": None,
        "amount_due": amount_due,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": amount_due,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": subscription["currency"],
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": created,
        "ending_balance": ending_balance,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": hosted_url,
        "id": invoice_id,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "data": [
                _line_object(line=line, invoice_id=invoice_id, subscription=subscription)
                for line in lines
            ],
            "has_more": False,
            "object": "list",
            "total_count": len(lines),
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": number,
        "object": "invoice",
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription["metadata"]),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": max(line.end for line in lines) if lines else created,
        "period_start": min(line.start for line in lines) if lines else created,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": starting_balance,
        "statement_descriptor": None,
        "status": "open",
        "status_transitions": {
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": subscription["id"],
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }


def _event_object(
    *, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None, automatic: bool
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": copy.deepcopy(obj)}
    if previous is not None:
        data["previous_attributes"] = copy.deepcopy(previous)
    return {
        "api_version": API_VERSION,
        "created": _ts(timezone.now()),
        "data": data,
        "id": _new_id("evt"),
        "livemode": False,
        "object": "event",
        "pending_webhooks": 1,
        "request": {"id": None if automatic else _new_id("req", 14), "idempotency_key": None},
        "type": event_type,
    }


# Storage ----------------------------------------------------------------------------------


def _store(data: dict[str, Any], *, private: dict | None = None) -> LocalStripeObject:
    return LocalStripeObject.objects.create(
        stripe_id=data["id"],
        object=data["object"],
        data=data,
        private=private or {},
        created=_dt(data["created"]) if "created" in data else timezone.now(),
    )


def _locked(stripe_id: str, kind: str) -> LocalStripeObject:
    row = LocalStripeObject.objects.select_for_update().filter(stripe_id=stripe_id).first()
    if row is None or row.object != kind:
        raise StripeRefused(f"No such {kind}: “{stripe_id}”.")
    return row


def _get(stripe_id: str, kind: str) -> LocalStripeObject:
    row = LocalStripeObject.objects.filter(stripe_id=stripe_id).first()
    if row is None or row.object != kind:
        raise StripeRefused(f"No such {kind}: “{stripe_id}”.")
    return row


def _save(row: LocalStripeObject) -> None:
    row.save(update_fields=["data", "private"])


def _emit(event_type: str, obj: dict, *, previous: dict | None = None, automatic: bool = False):
    """Store a Stripe-shaped event and post it to the webhook endpoint once this commits."""
    event = _event_object(event_type=event_type, obj=obj, previous=previous, automatic=automatic)
    _store(event)
    from billing.tasks_local import local_event_deliver

    event_id = event["id"]
    transaction.on_commit(lambda: local_event_deliver.delay(event_id), robust=True)
    return event


# Customers, cards, clocks -----------------------------------------------------------------


def _customer_now(customer: LocalStripeObject) -> datetime:
    """The customer's clock: wall-clock time plus the offset the time tool added."""
    return timezone.now() + timedelta(seconds=customer.private.get("clock_offset", 0))


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


# Subscriptions: periods, renewals, changes ------------------------------------------------


def _item(subscription: dict[str, Any]) -> dict[str, Any]:
    return subscription["items"]["data"][0]


def _item_price(subscription: dict[str, Any]) -> Price:
    price = price_for_stripe_id(_item(subscription)["price"]["id"])
    if price is None:
        raise StripeRefused(f"No such price: “{_item(subscription)['price']['id']}”.")
    return price


def _item_amount(subscription: dict[str, Any]) -> int:
    item = _item(subscription)
    return item["price"]["unit_amount"] * item["quantity"]


def _period_line(subscription: dict[str, Any], description: str) -> Line:
    item, price = _item(subscription), _item_price(subscription)
    return Line(
        amount=_item_amount(subscription),
        description=f"{item['quantity']} x {price.plan.name} ({description})",
        price=price,
        quantity=item["quantity"],
        start=item["current_period_start"],
        end=item["current_period_end"],
    )


def _store_invoice_and_emit(customer: LocalStripeObject, invoice: dict, *, paid: bool):
    _store(invoice)
    _emit("invoice.paid" if paid else "invoice.payment_failed", invoice, automatic=True)


def _renew(customer: LocalStripeObject, sub: LocalStripeObject, now: datetime) -> None:
    """The current period (or trial) ended: start the next period, invoice it, charge it."""
    data = sub.data
    previous = {
        "items": copy.deepcopy(data["items"]),
        "latest_invoice": data["latest_invoice"],
        "status": data["status"],
    }
    item = _item(data)
    price = _item_price(data)
    start = _dt(item["current_period_end"])
    item["current_period_start"] = _ts(start)
    item["current_period_end"] = _ts(add_interval(start, price.interval))
    ends_trial = data["status"] == "trialing"
    invoice = _invoice_create(
        customer=customer,
        subscription=data,
        lines=[_period_line(data, "first period after the trial" if ends_trial else "renewal")],
        billing_reason="subscription_cycle",
        now=now,
    )
    paid = _invoice_pay(customer, invoice, now)
    data["latest_invoice"] = invoice["id"]
    unpaid_before = any(row.data["subscription"] == data["id"] for row in _open_invoices(customer))
    data["status"] = "active" if paid and not unpaid_before else "past_due"
    if previous["status"] == data["status"]:
        del previous["status"]
    _store_invoice_and_emit(customer, invoice, paid=paid)
    _emit("customer.subscription.updated", data, previous=previous, automatic=True)


def _end(sub: LocalStripeObject) -> None:
    """A subscription set to cancel at period end reached it."""
    data = sub.data
    previous = {"status": data["status"], "ended_at": None}
    data["status"] = "canceled"
    data["ended_at"] = _item(data)["current_period_end"]
    _emit("customer.subscription.deleted", data, previous=previous, automatic=True)


def _run_due(customer: LocalStripeObject, now: datetime) -> None:
    """Run what falls due on the customer's clock: trial notices, trial ends, renewals and
    cancellations at period end, in order."""
    subscriptions = LocalStripeObject.objects.select_for_update().filter(
        object="subscription", data__customer=customer.stripe_id, data__status__in=LIVE_STATUSES
    )
    for sub in subscriptions.order_by("created", "id"):
        data = sub.data
        if (
            data["status"] == "trialing"
            and data["trial_end"]
            and not sub.private.get("trial_will_end_sent")
            and _ts(now) >= data["trial_end"] - int(TRIAL_WILL_END_NOTICE.total_seconds())
        ):
            sub.private["trial_will_end_sent"] = True
            _emit("customer.subscription.trial_will_end", data, automatic=True)
        while data["status"] in LIVE_STATUSES and _item(data)["current_period_end"] <= _ts(now):
            moment = _dt(_item(data)["current_period_end"])
            if data["cancel_at_period_end"]:
                _end(sub)
            else:
                _renew(customer, sub, moment)
        _save(sub)
    _save(customer)


def _open_invoices(customer: LocalStripeObject) -> list[LocalStripeObject]:
    return list(
        LocalStripeObject.objects.select_for_update()
        .filter(object="invoice", data__customer=customer.stripe_id, data__status="open")
        .order_by("created", "id")
    )


@dataclass(frozen=True)
class Change:
    """A subscription change worked out: the proration lines and what the item becomes."""

    lines: tuple[Line, ...]
    amount_due_now: int
    next_amount: int
    next_billing_at: int
    period_start: int
    period_end: int
    resets_period: bool


def _change(
    *, subscription: dict, customer: dict, price: Price, seats: int, now: datetime
) -> Change:
    """Proration of a change (see the module docstring for the rules)."""
    item = _item(subscription)
    old_price = _item_price(subscription)
    old_amount = _item_amount(subscription)
    new_amount = price.amount_cents * seats
    start, end = item["current_period_start"], item["current_period_end"]
    moment = min(max(_ts(now), start), end)
    trialing = subscription["status"] == "trialing"
    lines: list[Line] = []
    resets = price.interval != old_price.interval and not trialing
    if resets:
        start, end = moment, _ts(add_interval(_dt(moment), price.interval))
    if not trialing:
        credit = prorated(
            old_amount,
            seconds_left=item["current_period_end"] - moment,
            seconds_in_period=item["current_period_end"] - item["current_period_start"],
        )
        if credit:
            lines.append(
                Line(
                    amount=-credit,
                    description=f"Unused time on {item['quantity']} x {old_price.plan.name}",
                    price=old_price,
                    quantity=item["quantity"],
                    start=moment,
                    end=item["current_period_end"],
                    proration=True,
                )
            )
        charge = (
            new_amount
            if resets
            else prorated(new_amount, seconds_left=end - moment, seconds_in_period=end - start)
        )
        if charge:
            lines.append(
                Line(
                    amount=charge,
                    description=f"{'' if resets else 'Remaining time on '}{seats} x "
                    f"{price.plan.name}",
                    price=price,
                    quantity=seats,
                    start=moment,
                    end=end,
                    proration=not resets,
                )
            )
    net = sum(line.amount for line in lines)
    due = max(0, net + customer["balance"]) if net > 0 else 0
    next_at = subscription["trial_end"] if trialing else end
    return Change(
        lines=tuple(lines),
        amount_due_now=due,
        next_amount=new_amount,
        next_billing_at=next_at,
        period_start=start,
        period_end=end,
        resets_period=resets,
    )


# The gateway ------------------------------------------------------------------------------


class LocalGateway:
    """Stripe's part, offline. Implements ``billing.stripe.gateway.Gateway``; the methods
    after it are what Stripe's hosted pages and test clocks do (the local checkout page,
    the portal page, the time tool)."""

    local = True

    # Gateway ------------------------------------------------------------------------------

    @transaction.atomic
    def checkout_start(
        self,
        *,
        workspace: Workspace,
        price: Price,
        seats: int,
        customer_id: str,
        customer_email: str,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutStart:
        if customer_id:
            _get(customer_id, "customer")
        now = timezone.now()
        session_id = _new_id("cs", 40)
        url = _origin(success_url) + reverse("local_checkout", args=[session_id])
        trial_days = price.plan.trial_days
        session = _checkout_session_object(
            session_id=session_id,
            workspace=workspace,
            customer_id=customer_id,
            customer_email=customer_email,
            amount_total=0 if trial_days else price.amount_cents * seats,
            currency=price.currency,
            success_url=success_url,
            cancel_url=cancel_url,
            url=url,
            created=_ts(now),
        )
        _store(
            session,
            private={
                "line_items": [{"price": stripe_price_id(price, local=True), "quantity": seats}],
                "subscription_data": {
                    "metadata": {"workspace_id": str(workspace.pk)},
                    "trial_period_days": trial_days or None,
                },
            },
        )
        return CheckoutStart(session_id=session_id, url=url)

    def subscription_retrieve(self, subscription_id: str) -> dict[str, Any]:
        return _get(subscription_id, "subscription").data

    def subscription_change_preview(
        self, *, subscription: Subscription, price: Price, seats: int
    ) -> ChangePreview:
        sub = _get(subscription.stripe_subscription_id, "subscription")
        customer = _get(sub.data["customer"], "customer")
        change = _change(
            subscription=sub.data,
            customer=customer.data,
            price=price,
            seats=seats,
            now=_customer_now(customer),
        )
        return ChangePreview(
            amount_due_now_cents=change.amount_due_now,
            next_amount_cents=change.next_amount,
            currency=price.currency,
            next_billing_at=_dt(change.next_billing_at),
        )

    @transaction.atomic
    def subscription_change(
        self, *, subscription: Subscription, price: Price, seats: int
    ) -> dict[str, Any]:
        # The customer first, then the subscription: the order every local change takes.
        customer = _locked(
            _get(subscription.stripe_subscription_id, "subscription").data["customer"], "customer"
        )
        sub = _locked(subscription.stripe_subscription_id, "subscription")
        data = sub.data
        if data["status"] not in LIVE_STATUSES:
            raise StripeRefused("This subscription has ended: start a new one.")
        if price.currency != data["currency"]:
            raise StripeRefused("A subscription's currency cannot change.")
        now = _customer_now(customer)
        change = _change(
            subscription=data, customer=customer.data, price=price, seats=seats, now=now
        )
        previous = {"items": copy.deepcopy(data["items"])}
        item = _item(data)
        item.update(
            price=_price_object(price),
            plan=_plan_object(price),
            quantity=seats,
            current_period_start=change.period_start,
            current_period_end=change.period_end,
        )
        if change.resets_period:
            previous["billing_cycle_anchor"] = data["billing_cycle_anchor"]
            data["billing_cycle_anchor"] = change.period_start
        invoice, paid = None, True
        if change.lines and sum(line.amount for line in change.lines) > 0:
            invoice = _invoice_create(
                customer=customer,
                subscription=data,
                lines=list(change.lines),
                billing_reason="subscription_update",
                now=now,
            )
            paid = _invoice_pay(customer, invoice, now)
            previous["latest_invoice"] = data["latest_invoice"]
            data["latest_invoice"] = invoice["id"]
            if not paid and data["status"] != "past_due":
                previous["status"] = data["status"]
                data["status"] = "past_due"
        elif change.lines:  # a credit: kept as the customer's balance for the next invoices
            customer.data["balance"] += sum(line.amount for line in change.lines)
        _save(sub)
        _save(customer)
        _emit("customer.subscription.updated", data, previous=previous)
        if invoice is not None:
            _store_invoice_and_emit(customer, invoice, paid=paid)
        return data

    @transaction.atomic
    def subscription_cancel_at_period_end(
        self, *, subscription: Subscription, cancel: bool, feedback: str, comment: str
    ) -> dict[str, Any]:
        sub = _locked(subscription.stripe_subscription_id, "subscription")
        customer = _get(sub.data["customer"], "customer")
        data = sub.data
        if data["status"] not in LIVE_STATUSES:
            raise StripeRefused("This subscription has ended.")
        if data["cancel_at_period_end"] == cancel:
            return data
        keys = ("cancel_at", "cancel_at_period_end", "canceled_at", "cancellation_details")
        previous = {key: copy.deepcopy(data[key]) for key in keys}
        if cancel:
            data.update(
                cancel_at=_item(data)["current_period_end"],
                cancel_at_period_end=True,
                canceled_at=_ts(_customer_now(customer)),
                cancellation_details={
                    "comment": comment or None,
                    "feedback": feedback or None,
                    "reason": "cancellation_requested",
                },
            )
        else:
            data.update(
                cancel_at=None,
                cancel_at_period_end=False,
                canceled_at=None,
                cancellation_details={"comment": None, "feedback": None, "reason": None},
            )
        _save(sub)
        _emit("customer.subscription.updated", data, previous=previous)
        return data

    @transaction.atomic
    def portal_url(self, *, subscription: Subscription, return_url: str) -> str:
        customer = _get(subscription.stripe_customer_id, "customer")
        session_id = _new_id("bps")
        url = (
            _origin(return_url)
            + reverse("local_portal", args=[customer.stripe_id])
            + f"?session={session_id}"
        )
        _store(
            {
                "configuration": "bpc_local_default",
                "created": _ts(timezone.now()),
                "customer": customer.stripe_id,
                "customer_account": None,
                "flow": None,
                "id": session_id,
                "livemode": False,
                "locale": None,
                "object": "billing_portal.session",
                "on_behalf_of": None,
                "return_url": return_url,
                "url": url,
            }
        )
        return url

    def events_since(self, *, created_gte: int, types: list[str]) -> Iterator[dict[str, Any]]:
        """Events created at or after ``created_gte`` of the given types, newest first (as
        Stripe lists them)."""
        rows = LocalStripeObject.objects.filter(object="event", created__gte=_dt(created_gte))
        if types:
            rows = rows.filter(data__type__in=types)
        for row in rows.order_by("-created", "-id").iterator():
            yield row.data

    def subscriptions(self) -> Iterator[dict[str, Any]]:
        """Every local subscription, ended ones included, newest first."""
        rows = LocalStripeObject.objects.filter(object="subscription")
        for row in rows.order_by("-created", "-id").iterator():
            yield row.data

    # Stripe's hosted pages ----------------------------------------------------------------

    def checkout_session(self, session_id: str) -> LocalStripeObject:
        return _get(session_id, "checkout.session")

    def checkout_session_price(self, session: LocalStripeObject) -> tuple[Price, int]:
        line = session.private["line_items"][0]
        price = price_for_stripe_id(line["price"])
        if price is None:
            raise StripeRefused(f"No such price: “{line['price']}”.")
        return price, line["quantity"]

    @transaction.atomic
    def checkout_complete(self, *, session_id: str, card_number: str) -> dict[str, Any]:
        """Pay a checkout session with a test card: the customer (created if new), the
        card, the subscription and its first invoice, then ``checkout.session.completed``,
        ``customer.subscription.created`` and ``invoice.paid`` (or
        ``invoice.payment_failed``: the subscription is then past due)."""
        # The workspace row first (the order every change takes): two tabs completing two
        # checkouts run one after the other, and the second finds the first's subscription.
        workspace_id = _get(session_id, "checkout.session").data["metadata"]["workspace_id"]
        Workspace.objects.select_for_update().filter(pk=workspace_id).values_list("pk").first()
        session = _locked(session_id, "checkout.session")
        data = session.data
        if data["status"] != "open":
            raise CheckoutUnavailable(f"This checkout session is {data['status']}.")
        if _ts(timezone.now()) >= data["expires_at"]:
            raise CheckoutUnavailable("This checkout session has expired: start again.")
        price, quantity = self.checkout_session_price(session)
        workspace_id = data["metadata"]["workspace_id"]

        if data["customer"]:
            customer = _locked(data["customer"], "customer")
        else:
            workspace = Workspace.objects.filter(pk=workspace_id).first()
            customer = _store(
                _customer_object(
                    customer_id=_new_id("cus", 14),
                    email=data["customer_email"] or "",
                    workspace=workspace,
                    created=_ts(timezone.now()),
                ),
                private={"origin": _origin(data["success_url"]), "clock_offset": 0},
            )
        live = LocalStripeObject.objects.filter(
            object="subscription",
            data__metadata__workspace_id=workspace_id,
            data__status__in=LIVE_STATUSES,
        )
        if live.exists():
            raise CheckoutUnavailable(
                "This workspace already has a subscription: change it from the billing page."
            )
        now = _customer_now(customer)
        _card_attach(customer, card_number, now)

        subscription_id = _new_id("sub")
        trial_days = session.private["subscription_data"].get("trial_period_days")
        start = now
        if trial_days:
            end = start + timedelta(days=trial_days)
        else:
            end = add_interval(start, price.interval)
        item = _item_object(
            item_id=_new_id("si", 14),
            subscription_id=subscription_id,
            price=price,
            quantity=quantity,
            start=_ts(start),
            end=_ts(end),
        )
        subscription = _subscription_object(
            subscription_id=subscription_id,
            customer=customer.data,
            item=item,
            metadata=dict(session.private["subscription_data"]["metadata"]),
            status="trialing" if trial_days else "active",
            start=_ts(start),
            trial_end=_ts(end) if trial_days else None,
        )
        line = _period_line(subscription, "first period")
        if trial_days:
            line = Line(
                amount=0,
                description=f"Trial period for {quantity} x {price.plan.name}",
                price=price,
                quantity=quantity,
                start=item["current_period_start"],
                end=item["current_period_end"],
            )
        invoice = _invoice_create(
            customer=customer,
            subscription=subscription,
            lines=[line],
            billing_reason="subscription_create",
            now=now,
        )
        paid = _invoice_pay(customer, invoice, now)
        if not paid:
            subscription["status"] = "past_due"
        subscription["latest_invoice"] = invoice["id"]
        _store(subscription)
        _save(customer)

        data.update(
            customer=customer.stripe_id,
            customer_details={
                "address": None,
                "business_name": None,
                "email": customer.data["email"],
                "individual_name": None,
                "name": customer.data["name"],
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
            invoice=invoice["id"],
            payment_status=(
                "no_payment_required" if trial_days else ("paid" if paid else "unpaid")
            ),
            status="complete",
            subscription=subscription_id,
        )
        _save(session)
        _emit("checkout.session.completed", data)
        _emit("customer.subscription.created", subscription)
        _store_invoice_and_emit(customer, invoice, paid=paid)
        return data

    def customer(self, customer_id: str) -> LocalStripeObject:
        return _get(customer_id, "customer")

    def customer_invoices(self, customer_id: str) -> list[dict[str, Any]]:
        rows = LocalStripeObject.objects.filter(object="invoice", data__customer=customer_id)
        return [row.data for row in rows.order_by("-created", "-id")]

    def customer_subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        rows = LocalStripeObject.objects.filter(object="subscription", data__customer=customer_id)
        return [row.data for row in rows.order_by("-created", "-id")]

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        return _get(invoice_id, "invoice").data

    def portal_return_url(self, session_id: str, customer_id: str) -> str:
        row = LocalStripeObject.objects.filter(
            stripe_id=session_id, object="billing_portal.session", data__customer=customer_id
        ).first()
        return row.data["return_url"] if row else ""

    @transaction.atomic
    def card_replace(self, *, customer_id: str, card_number: str) -> list[str]:
        """The portal's "replace card": attach the new card, retry every open invoice with
        it (``invoice.paid`` or ``invoice.payment_failed``), and bring a past-due
        subscription whose invoices are all paid back to active
        (``customer.subscription.updated``). Returns the types of the events sent."""
        customer = _locked(customer_id, "customer")
        now = _customer_now(customer)
        _card_attach(customer, card_number, now)
        sent = []
        for row in _open_invoices(customer):
            paid = _invoice_pay(customer, row.data, now)
            _save(row)
            sent.append(_emit("invoice.paid" if paid else "invoice.payment_failed", row.data))
        still_open = {row.data["subscription"] for row in _open_invoices(customer)}
        past_due = LocalStripeObject.objects.select_for_update().filter(
            object="subscription", data__customer=customer_id, data__status="past_due"
        )
        for sub in past_due.order_by("created", "id"):
            if sub.stripe_id in still_open:
                continue
            sub.data["status"] = "active"
            sub.data["default_payment_method"] = customer.data["invoice_settings"][
                "default_payment_method"
            ]
            _save(sub)
            sent.append(
                _emit("customer.subscription.updated", sub.data, previous={"status": "past_due"})
            )
        _save(customer)
        return [event["type"] for event in sent]

    # Test clocks --------------------------------------------------------------------------

    def subscription_now(self, subscription_id: str) -> datetime:
        """The time on the clock of a subscription's customer."""
        sub = _get(subscription_id, "subscription")
        return _customer_now(_get(sub.data["customer"], "customer"))

    @transaction.atomic
    def clock_advance(self, *, subscription_id: str, to: datetime | None = None) -> datetime:
        """Move the clock of a subscription's customer forward, to ``to`` or else to the
        subscription's current period end (the end of a trial, a renewal, or the end of a
        subscription cancelled at period end), and run what falls due. A clock never goes
        back. Returns the customer's new time."""
        sub = _get(subscription_id, "subscription")
        customer = _locked(sub.data["customer"], "customer")
        target = to or _dt(_item(sub.data)["current_period_end"])
        wall = timezone.now()
        ahead = math.ceil((target - wall).total_seconds())
        offset = max(customer.private.get("clock_offset", 0), ahead)
        customer.private["clock_offset"] = offset
        now = wall + timedelta(seconds=offset)
        _run_due(customer, now)
        return now

    # Webhook delivery ---------------------------------------------------------------------

    def events_pending(self) -> list[str]:
        rows = LocalStripeObject.objects.filter(object="event", data__pending_webhooks__gt=0)
        return list(rows.order_by("created", "id").values_list("stripe_id", flat=True))


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
