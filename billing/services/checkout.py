"""Starting to pay (checkout) and the billing portal where the billing contact updates the
card and sees invoices."""

from django.conf import settings
from django.urls import reverse

from accounts.errors import ApplicationError, Conflict
from accounts.models import User, Workspace
from billing.models import (
    Price,
    Subscription,
)
from billing.services.validation import (
    manager_require,
    price_check,
    price_quantity,
    seat_cap_check,
    seats_check,
    seats_used_text,
    subscription_fit_check,
)
from billing.stripe.gateway import gateway


def _site(site_url: str | None) -> str:
    return (site_url or settings.HANDOFF_SITE_URL).rstrip("/")


def checkout_start(
    *,
    workspace: Workspace,
    price: Price,
    seats: int,
    actor: User,
    site_url: str | None = None,
) -> str:
    """Start the purchase of ``price`` for ``seats`` seats by a workspace on the free plan:
    the URL to send the buyer to (Stripe Checkout, or the local checkout page). The buyer
    comes back to the billing page's "processing" step (``site_url``, by default
    ``HANDOFF_SITE_URL``); the webhooks then put the workspace on the plan. Owners and
    admins only; at least as many seats as members and pending invitations. Refused with
    ``BillingNotConfigured`` (503) before anything else when there is no gateway."""
    manager_require(workspace=workspace, actor=actor)
    billing = gateway()
    seats = seats_check(seats)
    subscription = Subscription.objects.select_related("price").get(workspace=workspace)
    if subscription.is_paid:
        raise Conflict(
            "This workspace already has a subscription: change its plan or seats instead.",
        )
    plan = price_check(price=price, currency=subscription.currency)
    quantity = price_quantity(price, seats)
    if price.scheme == Price.Scheme.PER_SEAT:
        used, detail = seats_used_text(workspace)
        if seats < used:
            raise ApplicationError(
                f"This workspace holds {used} seats ({detail}): buy at least {used}.",
                field="seats",
            )
        seat_cap_check(plan=plan, seats=seats)
    subscription_fit_check(workspace=workspace, price=price, seats=quantity)
    site = _site(site_url)
    slug = workspace.slug
    success_url = (
        site
        + reverse("workspace_billing_return", kwargs={"workspace_slug": slug})
        + "?session_id={CHECKOUT_SESSION_ID}"
    )
    cancel_url = (
        site + reverse("workspace_billing", kwargs={"workspace_slug": slug}) + "?checkout=canceled"
    )
    started = billing.checkout_start(
        workspace=workspace,
        price=price,
        seats=quantity,
        customer_id=subscription.stripe_customer_id,
        customer_email=actor.email,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return started.url


def billing_portal_url(*, workspace: Workspace, return_url: str) -> str:
    """Where the workspace's billing contact updates the card and sees invoices: Stripe's
    Customer Portal, or the local portal page. ``return_url``: where its back link goes."""
    subscription = Subscription.objects.get(workspace=workspace)
    if not subscription.stripe_customer_id:
        raise Conflict("This workspace has no billing account yet: choose a plan first.")
    return gateway().portal_url(subscription=subscription, return_url=return_url)
