"""Fixtures of the Stripe tests: a fake Stripe API on 127.0.0.1 that the real client talks
HTTP to (``STRIPE_API_BASE``), Stripe price ids on the catalog's prices, and helpers that
deliver signed events to the real webhook endpoint."""

import pytest

from billing.models import Price
from tests.billing.stripe.fake_stripe import FakeStripe
from tests.billing.stripe.payloads import StripeCustomer, post_event

WEBHOOK_SECRET = "whsec_test_handoff_suite"


@pytest.fixture(autouse=True)
def fake_stripe(settings):
    """Stripe itself is configured (so ``gateway()`` is the StripeGateway) and answered by
    the fake. A test fails when the fake received a malformed request (one the SDK's
    declared parameter types refuse, in another API version, or to an unknown operation)."""
    server = FakeStripe().start()
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = server.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    yield server
    violations = server.take_violations()
    server.stop()
    assert not violations, "Malformed requests reached the fake Stripe:\n" + "\n".join(violations)


@pytest.fixture
def stripe_prices(db, fake_stripe) -> dict[str, tuple[str, int]]:
    """The catalog's active prices connected to Stripe prices that Stripe holds, as
    ``stripe_sync_catalog`` leaves them; key → (Stripe price id, unit amount)."""
    prices = {}
    for price in Price.objects.filter(is_active=True).select_related("plan"):
        key = price.plan.code if price.interval == "month" else f"{price.plan.code}_yearly"
        fake_stripe.put_price(
            f"price_{key}",
            unit_amount=price.amount_cents,
            currency=price.currency,
            interval=price.interval,
            product=f"handoff_{price.plan.code}",
        )
        price.stripe_price_id = f"price_{key}"
        price.save(update_fields=["stripe_price_id"])
        prices[key] = (price.stripe_price_id, price.amount_cents)
    return prices


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """POST signed events to the endpoint; the processing task queued on commit runs
    (eagerly) before this returns. Returns the last response."""

    def deliver(*events, **kwargs):
        response = None
        for evt in events:
            with django_capture_on_commit_callbacks(execute=True):
                response = post_event(client, evt, **kwargs)
            assert response.status_code == 200, response.content
        return response

    return deliver


@pytest.fixture
def customer_for(fake_stripe, stripe_prices):
    """A Stripe customer for a workspace, whose subscription the fake Stripe serves."""

    def make(workspace, **kwargs) -> StripeCustomer:
        return StripeCustomer(
            workspace_id=workspace.pk, prices=stripe_prices, fake=fake_stripe, **kwargs
        )

    return make
