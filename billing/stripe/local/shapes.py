"""Stripe's objects as its API sends them, built from Stripe's published examples
(``stripe/openapi`` ``fixtures3.json``) with local ids: ``cus_local_…``, ``sub_local_…``,
``in_local_…``, ``cs_local_…``, ``evt_local_…``; prices are ``price_local_<pk>``. Also the
ids and Unix timestamps they are made of, and readers of a subscription's one item.
"""

import copy
import secrets
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Workspace
from billing.models import Price
from billing.stripe.client import API_VERSION, StripeRefused
from billing.stripe.prices import price_for_stripe_id, stripe_price_id

CHECKOUT_SESSION_TTL = timedelta(hours=24)
LIVE_STATUSES = ("trialing", "active", "past_due")


# Ids and timestamps -------------------------------------------------------------------------

_ALPHABET = string.ascii_letters + string.digits


def _new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_local_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def _event_id() -> str:
    """An event id whose 16 hex digits of nanoseconds sort events in the order the gateway
    created them, followed by 8 random characters (24 in all, as other ids). Stripe's clock
    has one-second steps and the ledger orders the states of one second by their event ids
    (billing/ledger.py): here, where a clock advance creates a whole billing cycle's events
    in one simulated second, the ids keep them in the order they happened."""
    random = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"evt_local_{time.time_ns():016x}{random}"


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _dt(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


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
    *,
    event_type: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None,
    automatic: bool,
    created: datetime | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": copy.deepcopy(obj)}
    if previous is not None:
        data["previous_attributes"] = copy.deepcopy(previous)
    return {
        "api_version": API_VERSION,
        "created": _ts(created or timezone.now()),
        "data": data,
        "id": _event_id(),
        "livemode": False,
        "object": "event",
        "pending_webhooks": 1,
        "request": {"id": None if automatic else _new_id("req", 14), "idempotency_key": None},
        "type": event_type,
    }


# A subscription's one item -----------------------------------------------------------------


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
