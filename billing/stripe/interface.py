"""What every billing gateway answers (``Gateway``, with its value types), and which
gateway serves this installation (``gateway_name``). ``billing.stripe.gateway`` holds the
Stripe gateway and picks the one to use; the offline one is ``billing.stripe.local``."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings

from accounts.errors import ApplicationError
from accounts.models import Workspace
from billing.models import Price, Subscription


@dataclass(frozen=True)
class CheckoutStart:
    """Where to send the customer to pay: Stripe Checkout, or the local checkout page."""

    session_id: str
    url: str


@dataclass(frozen=True)
class ChangePreview:
    """What a subscription change costs: prorated now, and per period from then on."""

    amount_due_now_cents: int
    next_amount_cents: int
    currency: str
    next_billing_at: datetime | None


class Gateway(Protocol):
    local: bool

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
    ) -> CheckoutStart: ...

    def subscription_retrieve(self, subscription_id: str) -> dict[str, Any]: ...

    def subscription_change_preview(
        self, *, subscription: Subscription, price: Price, seats: int
    ) -> ChangePreview: ...

    def subscription_change(
        self, *, subscription: Subscription, price: Price, seats: int
    ) -> dict[str, Any]: ...

    def subscription_cancel_at_period_end(
        self, *, subscription: Subscription, cancel: bool, feedback: str, comment: str
    ) -> dict[str, Any]: ...

    def portal_url(self, *, subscription: Subscription, return_url: str) -> str: ...

    def events_since(self, *, created_gte: int, types: list[str]) -> Iterator[dict[str, Any]]: ...

    def subscriptions(self) -> Iterator[dict[str, Any]]: ...

    def events_page(
        self, *, created_gte: int, types: list[str], starting_after: str = ""
    ) -> tuple[list[dict[str, Any]], bool]: ...

    def subscriptions_page(
        self, *, starting_after: str = ""
    ) -> tuple[list[dict[str, Any]], bool]: ...


class BillingNotConfigured(ApplicationError):
    """This installation has no billing gateway: no Stripe key, and offline demo billing is
    off. Purchases and subscription changes are refused; nothing is written."""

    status = 503

    def __init__(self) -> None:
        super().__init__(
            "Billing is not configured on this installation: plans cannot be bought or "
            "changed here yet, and nothing was charged or changed. Contact "
            f"{settings.HANDOFF_SALES_EMAIL} to upgrade."
        )


STRIPE = "stripe"
LOCAL = "local"


def gateway_name() -> str:
    """Which gateway serves billing: "stripe" (``STRIPE_SECRET_KEY`` set), "local" (the
    offline demo gateway, ``HANDOFF_DEMO_BILLING``), or "" (billing is not configured)."""
    if settings.STRIPE_SECRET_KEY:
        return STRIPE
    if settings.HANDOFF_DEMO_BILLING:
        return LOCAL
    return ""


def billing_configured() -> bool:
    return gateway_name() != ""


def demo_billing_active() -> bool:
    """Payments are simulated: the offline gateway serves billing."""
    return gateway_name() == LOCAL
