"""The only module that imports ``stripe``. Thin functions over Stripe's API that take and
return plain dicts in Stripe's shapes, and the webhook signature check.

Every request asks for one Stripe API version, ``API_VERSION``, whatever version the
installed ``stripe`` package would default to: upgrading the package changes no request's
shape until this constant is changed on purpose (with the webhook endpoint's version; see
the README, "Going live on Stripe").

Tests point the client at a fake Stripe on 127.0.0.1 with ``STRIPE_API_BASE``: outgoing
calls are intercepted at the HTTP layer, never by replacing these functions.
"""

from collections.abc import Iterator
from typing import Any

import stripe
from django.conf import settings

from accounts.errors import ApplicationError
from accounts.json_body import BodyRefused, json_body_parse, json_kind

SIGNATURE_TOLERANCE = 300  # seconds, as Stripe's own libraries

# The Stripe API version of every request, and the one the webhook endpoint must be created
# with: the version the installed SDK (``stripe`` 16.1) is generated for, so the parameter
# types it declares are the ones Stripe checks. Versions are "<date>.<release>"; versions of
# one release differ only by additions (Stripe's policy since 2024-09-30.acacia), so the
# handlers read events of any version of this release (``processing.event_version_problem``).
API_VERSION = "2026-10-28.endive"
API_RELEASE = API_VERSION.rpartition(".")[2]


class StripeUnavailable(ApplicationError):
    """A transient failure talking to Stripe (network, rate limit, 5xx): retry later."""

    status = 503

    def __init__(self, detail: str) -> None:
        super().__init__("Payments are unavailable for a moment: please try again shortly.")
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} ({self.detail})"


class StripeRateLimited(StripeUnavailable):
    """Stripe answered 429: too many requests for the account's rate limit."""


class StripeRefused(ApplicationError):
    """Stripe refused the request (card declined, invalid parameters)."""

    status = 402


class StripeMissing(StripeRefused):
    """Stripe has no such object (``resource_missing``)."""


class SignatureInvalid(Exception):
    """A webhook whose signature is missing, wrong or older than the tolerance."""


def webhook_event_verify(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event in a webhook body, once its ``Stripe-Signature`` is checked with
    Stripe's scheme (HMAC-SHA256 of ``t.payload``, at most five minutes old). A signed body
    that is not strict JSON raises ``accounts.json_body.BodyRefused``."""
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, tolerance=SIGNATURE_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        raise SignatureInvalid(str(exc)) from exc
    # Parsed only once the signature holds, and strictly (depth, numbers, duplicate keys, NUL):
    # a signed body is still refused with the reason if it cannot be stored as it is.
    event = json_body_parse(payload)
    if not isinstance(event, dict):
        raise BodyRefused(f"the body must be a JSON object, not {json_kind(event)}")
    if event.get("object") != "event" or "id" not in event:
        raise BodyRefused('the body is not an event object ("object": "event" with an "id")')
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
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, stripe_version=API_VERSION, **options)


def _call(operation) -> dict[str, Any]:
    try:
        return operation().to_dict()
    except stripe.RateLimitError as exc:
        raise StripeRateLimited(str(exc)) from exc
    except stripe.APIConnectionError as exc:
        raise StripeUnavailable(str(exc)) from exc
    except stripe.APIError as exc:
        raise StripeUnavailable(str(exc)) from exc
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":
            raise StripeMissing(exc.user_message or str(exc)) from exc
        raise StripeRefused(exc.user_message or str(exc)) from exc
    except stripe.StripeError as exc:
        raise StripeRefused(exc.user_message or str(exc)) from exc


def checkout_session_create(params: dict[str, Any]) -> dict[str, Any]:
    return _call(lambda: _client().v1.checkout.sessions.create(params=params))


# What a fetched subscription carries beyond its webhook shape: its discounts with their
# coupons (events name them by id only), which MRR is net of.
SUBSCRIPTION_EXPAND = ["discounts.source.coupon"]


def subscription_retrieve(subscription_id: str) -> dict[str, Any]:
    return _call(
        lambda: _client().v1.subscriptions.retrieve(
            subscription_id, params={"expand": SUBSCRIPTION_EXPAND}
        )
    )


def subscription_update(subscription_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return _call(lambda: _client().v1.subscriptions.update(subscription_id, params=params))


def invoice_preview(params: dict[str, Any]) -> dict[str, Any]:
    return _call(lambda: _client().v1.invoices.create_preview(params=params))


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


# One page of a list (``PAGE_SIZE`` objects, newest first, after ``starting_after``), for
# the jobs that walk a list in bounded chunks and remember where they stopped.
PAGE_SIZE = 100


def events_page(
    *, created_gte: int, types: list[str], starting_after: str = ""
) -> tuple[list[dict[str, Any]], bool]:
    """One page of the events Stripe holds created at or after ``created_gte``, and
    whether there are more."""
    params: dict[str, Any] = {"created": {"gte": created_gte}, "limit": PAGE_SIZE}
    if types:
        params["types"] = types
    if starting_after:
        params["starting_after"] = starting_after
    page = _call(lambda: _client().v1.events.list(params=params))
    return page.get("data", []), bool(page.get("has_more"))


def subscriptions_page(*, starting_after: str = "") -> tuple[list[dict[str, Any]], bool]:
    """One page of every subscription (ended ones included), each with its discounts'
    coupons expanded as ``subscription_retrieve`` returns them, and whether there are more."""
    params: dict[str, Any] = {
        "status": "all",
        "limit": PAGE_SIZE,
        "expand": [f"data.{path}" for path in SUBSCRIPTION_EXPAND],
    }
    if starting_after:
        params["starting_after"] = starting_after
    page = _call(lambda: _client().v1.subscriptions.list(params=params))
    return page.get("data", []), bool(page.get("has_more"))


# The catalog and the go-live check (``billing.stripe.going_live``) -----------------------


def product_retrieve(product_id: str) -> dict[str, Any] | None:
    """The product, or None when Stripe has no product of that id."""
    try:
        return _call(lambda: _client().v1.products.retrieve(product_id))
    except StripeMissing:
        return None


def product_create(params: dict[str, Any]) -> dict[str, Any]:
    return _call(lambda: _client().v1.products.create(params=params))


def price_retrieve(price_id: str) -> dict[str, Any] | None:
    """The price, or None when Stripe has no price of that id."""
    try:
        return _call(lambda: _client().v1.prices.retrieve(price_id))
    except StripeMissing:
        return None


def prices_by_lookup_key(lookup_key: str) -> list[dict[str, Any]]:
    """The prices (active or not) carrying ``lookup_key``: at most one, as Stripe keeps
    lookup keys unique."""
    page = _call(lambda: _client().v1.prices.list(params={"lookup_keys": [lookup_key]}))
    return page.get("data", [])


def price_create(params: dict[str, Any]) -> dict[str, Any]:
    return _call(lambda: _client().v1.prices.create(params=params))


def webhook_endpoints_list() -> Iterator[dict[str, Any]]:
    return _paginate(_client().v1.webhook_endpoints.list, {})


def portal_configurations_list() -> Iterator[dict[str, Any]]:
    """The Customer Portal's active configurations."""
    return _paginate(_client().v1.billing_portal.configurations.list, {"active": True})
