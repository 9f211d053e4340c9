"""The only module that imports ``stripe``. Thin functions over Stripe's API that take and
return plain dicts in Stripe's shapes, and the webhook signature check.

Tests point the client at a fake Stripe on 127.0.0.1 with ``STRIPE_API_BASE``: outgoing
calls are intercepted at the HTTP layer, never by replacing these functions.
"""

import json
from collections.abc import Iterator
from typing import Any

import stripe
from django.conf import settings

from accounts.errors import ApplicationError

SIGNATURE_TOLERANCE = 300  # seconds, as Stripe's own libraries


class StripeUnavailable(ApplicationError):
    """A transient failure talking to Stripe (network, rate limit, 5xx): retry later."""

    status = 503

    def __init__(self, detail: str) -> None:
        super().__init__("Payments are unavailable for a moment: please try again shortly.")
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} ({self.detail})"


class StripeRefused(ApplicationError):
    """Stripe refused the request (card declined, invalid parameters)."""

    status = 402


class SignatureInvalid(Exception):
    """A webhook whose signature is missing, wrong or older than the tolerance."""


def webhook_event_verify(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event in a webhook body, once its ``Stripe-Signature`` is checked with
    Stripe's scheme (HMAC-SHA256 of ``t.payload``, at most five minutes old)."""
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, tolerance=SIGNATURE_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        raise SignatureInvalid(str(exc)) from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise SignatureInvalid("the body is not JSON") from exc
    if not isinstance(event, dict) or event.get("object") != "event" or "id" not in event:
        raise SignatureInvalid("the body is not a Stripe event")
    return event


# Seconds one HTTP call to Stripe may take: well under the tasks' 30-second soft limit.
HTTP_TIMEOUT = 10


def _client() -> stripe.StripeClient:
    options: dict[str, Any] = {
        "max_network_retries": 2,
        "http_client": stripe.new_default_http_client(timeout=HTTP_TIMEOUT),
    }
    if base := getattr(settings, "STRIPE_API_BASE", ""):
        options["base_addresses"] = {"api": base}
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, **options)


def _call(operation) -> dict[str, Any]:
    try:
        return operation().to_dict()
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise StripeUnavailable(str(exc)) from exc
    except stripe.APIError as exc:
        raise StripeUnavailable(str(exc)) from exc
    except stripe.StripeError as exc:
        raise StripeRefused(exc.user_message or str(exc)) from exc


def checkout_session_create(params: dict[str, Any]) -> dict[str, Any]:
    return _call(lambda: _client().v1.checkout.sessions.create(params=params))


def subscription_retrieve(subscription_id: str) -> dict[str, Any]:
    return _call(lambda: _client().v1.subscriptions.retrieve(subscription_id))


def subscription_update(subscription_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return _call(lambda: _client().v1.subscriptions.update(subscription_id, params=params))


def invoice_preview(params: dict[str, Any]) -> dict[str, Any]:
    return _call(lambda: _client().v1.invoices.create_preview(params=params))


def invoices_list(customer_id: str, limit: int = 24) -> list[dict[str, Any]]:
    page = _call(
        lambda: _client().v1.invoices.list(params={"customer": customer_id, "limit": limit})
    )
    return page.get("data", [])


def portal_session_create(customer_id: str, return_url: str) -> dict[str, Any]:
    return _call(
        lambda: _client().v1.billing_portal.sessions.create(
            params={"customer": customer_id, "return_url": return_url}
        )
    )


def _paginate(list_page, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    params = dict(params, limit=100)
    while True:
        page = _call(lambda: list_page(params=params))
        yield from page.get("data", [])
        if not page.get("has_more") or not page.get("data"):
            return
        params["starting_after"] = page["data"][-1]["id"]


def events_list(*, created_gte: int, types: list[str]) -> Iterator[dict[str, Any]]:
    """Events Stripe still holds (30 days) created at or after ``created_gte``."""
    return _paginate(_client().v1.events.list, {"created": {"gte": created_gte}, "types": types})


def subscriptions_list() -> Iterator[dict[str, Any]]:
    return _paginate(_client().v1.subscriptions.list, {"status": "all"})
