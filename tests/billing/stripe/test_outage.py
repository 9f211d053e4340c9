"""Stripe unreachable during a self-serve flow: a clear 503, nothing changed."""

import pytest

from billing.models import Price, Subscription

pytestmark = pytest.mark.django_db


def test_checkout_while_stripe_is_down_answers_503_and_changes_nothing(
    owner_client, workspace, fake_stripe, stripe_prices
):
    fake_stripe.fail_next("/v1/checkout/sessions", times=10)
    price = Price.objects.get(plan__code="pro", interval="month", is_active=True)
    before = Subscription.objects.filter(workspace=workspace).values().get()

    response = owner_client.post(
        f"/w/{workspace.slug}/billing/checkout/", {"price": price.pk, "seats": 2}
    )

    assert response.status_code == 503
    assert "Payments are unavailable for a moment" in response.text
    assert Subscription.objects.filter(workspace=workspace).values().get() == before
