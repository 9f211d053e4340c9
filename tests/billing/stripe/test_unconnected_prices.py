"""A catalog price without a Stripe price id, while Stripe is the gateway: the pages say it
cannot be bought yet, and the services refuse it with a 409 before anything reaches Stripe
(which would answer 400 for ``price=""``). The offline gateway needs no ids."""

import time

import pytest
from django.urls import reverse

from billing.models import Price, Subscription
from tests.billing.stripe.payloads import DAY

pytestmark = pytest.mark.django_db


def billing_url(workspace, name: str = "workspace_billing") -> str:
    return reverse(name, kwargs={"workspace_slug": workspace.slug})


def price(plan: str, interval: str = "month") -> Price:
    return Price.objects.get(plan__code=plan, interval=interval, is_active=True)


def disconnect(plan: str, interval: str = "month") -> Price:
    row = price(plan, interval)
    row.stripe_price_id = ""
    row.save(update_fields=["stripe_price_id"])
    return row


def test_checkout_of_a_price_not_connected_to_stripe_is_refused_and_sends_nothing(
    owner_client, workspace, fake_stripe
):
    before = Subscription.objects.filter(workspace=workspace).values().get()

    response = owner_client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": price("pro").pk, "seats": 2},
    )

    assert response.status_code == 409
    assert "Pro (monthly) cannot be bought yet" in response.text
    assert fake_stripe.requests == []
    assert Subscription.objects.filter(workspace=workspace).values().get() == before


def test_a_change_to_a_price_not_connected_is_refused_at_preview_and_at_change(
    owner_client, workspace, fake_stripe, customer_for, deliver
):
    stripe = customer_for(workspace, clock=int(time.time()) - DAY)
    deliver(*stripe.subscribe("pro", 3))
    business = disconnect("business")

    preview = owner_client.get(
        billing_url(workspace, "workspace_billing_change"), {"price": business.pk, "seats": 3}
    )
    change = owner_client.post(
        billing_url(workspace, "workspace_billing_change"), {"price": business.pk, "seats": 3}
    )

    assert (preview.status_code, change.status_code) == (409, 409)
    assert "Business (monthly) cannot be bought yet" in change.text
    assert fake_stripe.requests == []
    assert Subscription.objects.get(workspace=workspace).plan.code == "pro"


def test_the_pricing_page_says_a_plan_not_connected_cannot_be_bought_yet(
    owner_client, workspace, stripe_prices
):
    disconnect("business")

    page = owner_client.get(reverse("pricing")).text

    assert 'id="cannot-buy-business"' in page
    assert 'id="cannot-buy-pro"' not in page
    assert "?plan=pro&amp;interval=month" in page  # Pro is offered
    assert "?plan=business&amp;interval=month" not in page


def test_the_billing_page_offers_a_price_not_connected_only_as_cannot_be_bought_yet(
    owner_client, workspace, stripe_prices
):
    disconnect("business", "year")

    page = owner_client.get(billing_url(workspace)).text

    business_yearly = price("business", "year").pk
    assert f'<option value="{business_yearly}"' in page
    option = page.split(f'<option value="{business_yearly}"', 1)[1].split("</option>", 1)[0]
    assert "disabled" in option
    assert "cannot be bought yet" in option
    assert 'id="checkout-form"' in page


def test_with_no_price_connected_the_billing_page_says_plans_cannot_be_bought_yet(
    owner_client, workspace
):
    page = owner_client.get(billing_url(workspace)).text

    assert 'id="cannot-buy"' in page
    assert 'id="checkout-form"' not in page


def test_the_offline_gateway_sells_prices_without_stripe_ids(owner_client, workspace, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.HANDOFF_DEMO_BILLING = True

    page = owner_client.get(reverse("pricing")).text
    response = owner_client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": price("pro").pk, "seats": 2},
    )

    assert "Cannot be bought yet" not in page
    assert response.status_code == 302
    assert "/billing/local/checkout/" in response["Location"]
