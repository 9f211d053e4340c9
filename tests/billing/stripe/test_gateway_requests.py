"""Every operation of the Stripe gateway, driven from the pages through the real client to
the fake Stripe HTTP server, which checks each request against the parameter types the
installed SDK declares (an unknown key, a missing required one, a value of the wrong type or
an empty string for a parameter that cannot be unset fails the test; see ``fake_stripe``)."""

import time
from io import StringIO

import pytest
import stripe as stripe_sdk
from django.core.management import call_command
from django.urls import reverse

from billing.models import Cancellation, Price
from billing.stripe import client
from billing.stripe.client import API_VERSION, StripeRefused
from billing.stripe.handlers import HANDLED_TYPES
from tests.billing.stripe.payloads import DAY

pytestmark = pytest.mark.django_db


def billing_url(workspace, name: str = "workspace_billing") -> str:
    return reverse(name, kwargs={"workspace_slug": workspace.slug})


def price(plan: str, interval: str = "month") -> Price:
    return Price.objects.get(plan__code=plan, interval=interval, is_active=True)


@pytest.fixture
def paying(workspace, customer_for, deliver):
    """Northwind pays for Pro monthly, 3 seats, since yesterday; Stripe holds the
    subscription."""
    stripe = customer_for(workspace, clock=int(time.time()) - DAY)
    deliver(*stripe.subscribe("pro", 3))
    return stripe


def test_checkout_sends_a_well_formed_session_and_sends_the_buyer_to_stripe(
    owner_client, owner, workspace, fake_stripe, stripe_prices
):
    response = owner_client.post(
        billing_url(workspace, "workspace_billing_checkout"),
        {"price": price("pro").pk, "seats": 2},
    )

    (request,) = fake_stripe.requests_to("/v1/checkout/sessions", "POST")
    session = fake_stripe.checkout_sessions[response["Location"].rsplit("/", 1)[1]]
    assert response.status_code == 302
    assert response["Location"] == session["url"]
    assert request.stripe_version == API_VERSION
    params = request.params
    assert params["mode"] == "subscription"
    assert params["line_items"] == [{"price": "price_pro", "quantity": "2"}]
    assert params["customer_email"] == owner.email
    assert params["client_reference_id"] == str(workspace.pk)
    assert params["subscription_data"] == {
        "metadata": {"workspace_id": str(workspace.pk)},
        "trial_period_days": "14",
    }
    assert params["success_url"].endswith("?session_id={CHECKOUT_SESSION_ID}")


def test_the_change_preview_asks_stripe_for_a_well_formed_invoice_preview(
    owner_client, workspace, fake_stripe, paying
):
    response = owner_client.get(
        billing_url(workspace, "workspace_billing_change"),
        {"price": price("pro").pk, "seats": 5},
    )

    subscription_id = paying.subscription["id"]
    assert response.status_code == 200
    assert "$24" in response.text  # two more seats at $12, as the fake computes it
    assert len(fake_stripe.requests_to(f"/v1/subscriptions/{subscription_id}", "GET")) == 1
    (preview,) = fake_stripe.requests_to("/v1/invoices/create_preview", "POST")
    assert preview.params == {
        "customer": paying.customer_id,
        "subscription": subscription_id,
        "subscription_details": {
            "items": [{"id": f"si_{subscription_id[4:]}", "price": "price_pro", "quantity": "5"}],
            "proration_behavior": "always_invoice",
        },
    }


def test_a_plan_change_sends_a_well_formed_subscription_update(
    owner_client, workspace, fake_stripe, paying
):
    response = owner_client.post(
        billing_url(workspace, "workspace_billing_change"),
        {"price": price("business", "year").pk, "seats": 4},
    )

    subscription_id = paying.subscription["id"]
    assert response.status_code == 302
    (update,) = fake_stripe.requests_to(f"/v1/subscriptions/{subscription_id}", "POST")
    assert update.params == {
        "items": [
            {"id": f"si_{subscription_id[4:]}", "price": "price_business_yearly", "quantity": "4"}
        ],
        "proration_behavior": "always_invoice",
    }
    item = fake_stripe.subscriptions[subscription_id]["items"]["data"][0]
    assert (item["price"]["id"], item["quantity"]) == ("price_business_yearly", 4)


def test_cancel_and_resume_send_well_formed_subscription_updates(
    owner_client, workspace, fake_stripe, paying
):
    subscription_id = paying.subscription["id"]

    cancel = owner_client.post(
        billing_url(workspace, "workspace_billing_cancel"),
        {"reason": "too_expensive", "comment": "Budget cuts"},
    )
    resume = owner_client.post(billing_url(workspace, "workspace_billing_resume"))

    assert (cancel.status_code, resume.status_code) == (302, 302)
    first, second = fake_stripe.requests_to(f"/v1/subscriptions/{subscription_id}", "POST")
    assert first.params == {
        "cancel_at_period_end": "true",
        "cancellation_details": {"feedback": "too_expensive", "comment": "Budget cuts"},
    }
    assert second.params == {"cancel_at_period_end": "false"}
    assert fake_stripe.subscriptions[subscription_id]["cancel_at_period_end"] is False
    assert Cancellation.objects.get(workspace=workspace).resumed_at is not None


def test_the_billing_portal_sends_a_well_formed_session_and_sends_the_customer_to_it(
    owner_client, workspace, fake_stripe, paying
):
    fake_stripe.put_portal_configuration()

    response = owner_client.post(billing_url(workspace, "workspace_billing_portal"))

    (request,) = fake_stripe.requests_to("/v1/billing_portal/sessions", "POST")
    assert response.status_code == 302
    assert response["Location"].startswith("https://billing.stripe.com/p/session/")
    assert request.params == {
        "customer": paying.customer_id,
        "return_url": f"http://testserver{billing_url(workspace)}",
    }


def test_reconciliation_lists_events_and_subscriptions_with_well_formed_requests(
    fake_stripe, paying
):
    call_command("reconcile_stripe", stdout=StringIO())

    (events,) = fake_stripe.requests_to("/v1/events", "GET")
    (subscriptions,) = fake_stripe.requests_to("/v1/subscriptions", "GET")
    assert set(events.params) == {"created", "types", "limit"}
    assert sorted(events.params["types"]) == sorted(HANDLED_TYPES)
    assert subscriptions.params == {
        "status": "all",
        "limit": "100",
        "expand": ["data.discounts.source.coupon"],
    }
    # The list carries each subscription as a retrieve would: none is fetched one by one.
    assert fake_stripe.requests_to(f"/v1/subscriptions/{paying.subscription['id']}") == []


def test_the_fake_refuses_what_the_sdks_parameter_types_do_not_allow(fake_stripe, paying):
    subscription_id = paying.subscription["id"]
    malformed = {
        "items": [{"id": f"si_{subscription_id[4:]}", "price": "", "quantity": "two"}],
        "proration_behaviour": "always_invoice",
        "cancel_at_period_end": "yes",
    }

    with pytest.raises(StripeRefused):
        client.subscription_update(subscription_id, malformed)

    violations = "\n".join(fake_stripe.take_violations())
    assert "proration_behaviour: unknown parameter" in violations
    assert "items[0][quantity]: 'two' is not int" in violations
    assert "items[0][price]: an empty string" in violations
    assert "cancel_at_period_end: 'yes' is not bool" in violations


def test_requests_ask_for_the_pinned_api_version_whatever_the_sdk_defaults_to(
    fake_stripe, paying, monkeypatch
):
    # An upgraded SDK would default to a newer version; the client still asks for the pin.
    monkeypatch.setattr(stripe_sdk._api_version._ApiVersion, "CURRENT", "2099-01-01.zinnia")

    client.subscription_retrieve(paying.subscription["id"])

    assert [r.stripe_version for r in fake_stripe.requests] == [API_VERSION]


def test_the_pinned_api_version_is_the_one_the_installed_sdk_declares_its_types_for():
    # The parameter types checked above describe the SDK's own version. After upgrading the
    # stripe package: pin its version here, in the README, and in the webhook endpoint.
    assert stripe_sdk.api_version == API_VERSION
