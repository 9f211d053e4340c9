"""The billing gateway: Stripe itself when ``STRIPE_SECRET_KEY`` is set; otherwise, where
offline demo billing is on (``HANDOFF_DEMO_BILLING``: the embedded default, or a demo
installation), the offline local gateway (``billing.stripe.local``) that plays Stripe's
part with the same object shapes and the same signed webhooks. With neither there is no
gateway: ``gateway()`` raises ``BillingNotConfigured`` and nothing is bought, changed or
written. Services call ``gateway()`` and never know which one answers.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from accounts.models import Workspace
from billing.models import Price, Subscription
from billing.stripe import client
from billing.stripe.interface import (
    LOCAL,
    STRIPE,
    BillingNotConfigured,
    ChangePreview,
    CheckoutStart,
    Gateway,
    billing_configured,
    demo_billing_active,
    gateway_name,
)
from billing.stripe.local import LocalGateway
from billing.stripe.prices import stripe_price_id

__all__ = [
    "LOCAL",
    "STRIPE",
    "BillingNotConfigured",
    "ChangePreview",
    "CheckoutStart",
    "Gateway",
    "LocalGateway",
    "StripeGateway",
    "billing_configured",
    "demo_billing_active",
    "gateway",
    "gateway_name",
]


def _item(subscription: dict[str, Any]) -> dict[str, Any]:
    return subscription["items"]["data"][0]


class StripeGateway:
    """Stripe itself: Checkout for the first purchase, subscription updates for changes,
    the Customer Portal for cards and invoices."""

    local = False

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
        params: dict[str, Any] = {
            "mode": "subscription",
            "client_reference_id": str(workspace.pk),
            "line_items": [{"price": stripe_price_id(price, local=False), "quantity": seats}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"workspace_id": str(workspace.pk)},
            "subscription_data": {"metadata": {"workspace_id": str(workspace.pk)}},
        }
        if price.plan.trial_days:
            params["subscription_data"]["trial_period_days"] = price.plan.trial_days
        if customer_id:
            params["customer"] = customer_id
        else:
            params["customer_email"] = customer_email
        session = client.checkout_session_create(params)
        return CheckoutStart(session_id=session["id"], url=session["url"])

    def subscription_retrieve(self, subscription_id: str) -> dict[str, Any]:
        return client.subscription_retrieve(subscription_id)

    def _items(self, subscription: Subscription, price: Price, seats: int) -> list[dict]:
        current = _item(client.subscription_retrieve(subscription.stripe_subscription_id))
        return [
            {"id": current["id"], "price": stripe_price_id(price, local=False), "quantity": seats}
        ]

    def subscription_change_preview(
        self, *, subscription: Subscription, price: Price, seats: int
    ) -> ChangePreview:
        preview = client.invoice_preview(
            {
                "customer": subscription.stripe_customer_id,
                "subscription": subscription.stripe_subscription_id,
                "subscription_details": {
                    "items": self._items(subscription, price, seats),
                    "proration_behavior": "always_invoice",
                },
            }
        )
        next_at = preview.get("next_payment_attempt") or preview.get("period_end")
        return ChangePreview(
            amount_due_now_cents=preview["amount_due"],
            next_amount_cents=price.amount_for(seats),
            currency=preview["currency"],
            next_billing_at=datetime.fromtimestamp(next_at, tz=UTC) if next_at else None,
        )

    def subscription_change(
        self, *, subscription: Subscription, price: Price, seats: int
    ) -> dict[str, Any]:
        return client.subscription_update(
            subscription.stripe_subscription_id,
            {
                "items": self._items(subscription, price, seats),
                "proration_behavior": "always_invoice",
            },
        )

    def subscription_cancel_at_period_end(
        self, *, subscription: Subscription, cancel: bool, feedback: str, comment: str
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"cancel_at_period_end": cancel}
        if cancel:
            params["cancellation_details"] = {"feedback": feedback, "comment": comment}
        return client.subscription_update(subscription.stripe_subscription_id, params)

    def portal_url(self, *, subscription: Subscription, return_url: str) -> str:
        return client.portal_session_create(subscription.stripe_customer_id, return_url)["url"]

    def events_since(self, *, created_gte: int, types: list[str]) -> Iterator[dict[str, Any]]:
        return client.events_list(created_gte=created_gte, types=types)

    def subscriptions(self) -> Iterator[dict[str, Any]]:
        return client.subscriptions_list()

    def events_page(
        self, *, created_gte: int, types: list[str], starting_after: str = ""
    ) -> tuple[list[dict[str, Any]], bool]:
        return client.events_page(
            created_gte=created_gte, types=types, starting_after=starting_after
        )

    def subscriptions_page(self, *, starting_after: str = "") -> tuple[list[dict[str, Any]], bool]:
        return client.subscriptions_page(starting_after=starting_after)


def gateway() -> Gateway:
    """Stripe when a secret key is configured, else the offline local gateway where demo
    billing is on; raises ``BillingNotConfigured`` when there is neither."""
    name = gateway_name()
    if name == STRIPE:
        return StripeGateway()
    if name == LOCAL:
        return LocalGateway()
    raise BillingNotConfigured()
