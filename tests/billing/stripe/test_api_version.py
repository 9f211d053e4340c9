"""Webhook events carry the API version Stripe rendered them in. The handlers read the
pinned version's shapes (any version of its release); an event rendered in another is
stored as failed with the reason, applies nothing, and the admin's event list warns."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.roles import BILLING_ADMINS
from billing.models import RevenueMovement, StripeEvent, Subscription
from billing.stripe.client import API_VERSION
from billing.stripe.processing import UNSUPPORTED_VERSION
from tests.billing.stripe.payloads import event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OLDER = "2025-01-27.acacia"  # before items carried the billing period


def rendered_in(events: list[dict], version: str | None) -> list[dict]:
    """The same events, as an endpoint of another API version would receive them."""
    return [
        event(e["type"], e["data"]["object"], created=e["created"], api_version=version)
        for e in events
    ]


def test_an_event_of_an_older_api_version_is_refused_with_the_reason_and_changes_nothing(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    created, *_ = rendered_in(stripe.subscribe("pro", 5), OLDER)

    response = deliver(created)

    stored = StripeEvent.objects.get(stripe_id=created["id"])
    assert response.json()["received"] is True  # acknowledged: Stripe does not retry it
    assert stored.status == StripeEvent.Status.FAILED
    assert stored.error.startswith(UNSUPPORTED_VERSION)
    assert OLDER in stored.error
    assert API_VERSION in stored.error
    subscription = Subscription.objects.get(workspace=workspace)
    assert (subscription.plan.code, subscription.stripe_subscription_id) == ("free", "")
    assert subscription.current_period_end is None
    assert not RevenueMovement.objects.exists()


def test_an_event_without_an_api_version_is_refused(workspace, customer_for, deliver):
    stripe = customer_for(workspace)
    created, *_ = rendered_in(stripe.subscribe("pro", 5), None)

    deliver(created)

    stored = StripeEvent.objects.get(stripe_id=created["id"])
    assert stored.status == StripeEvent.Status.FAILED
    assert "no API version" in stored.error
    assert Subscription.objects.get(workspace=workspace).plan.code == "free"


def test_an_event_of_a_later_version_of_the_pinned_release_is_applied(
    workspace, customer_for, deliver
):
    release = API_VERSION.rpartition(".")[2]
    stripe = customer_for(workspace)
    created, *_ = rendered_in(stripe.subscribe("pro", 5), f"2099-12-31.{release}")

    deliver(created)

    assert StripeEvent.objects.get(stripe_id=created["id"]).status == "processed"
    assert Subscription.objects.get(workspace=workspace).plan.code == "pro"


def test_an_unhandled_event_of_another_version_is_skipped_as_before(workspace, deliver):
    unhandled = event("customer.created", {"id": "cus_X", "object": "customer"}, created=1)
    unhandled["api_version"] = OLDER

    deliver(unhandled)

    stored = StripeEvent.objects.get(stripe_id=unhandled["id"])
    assert (stored.status, stored.error) == ("skipped", "customer.created is not handled")


def test_the_admin_event_list_warns_about_events_refused_for_their_version(
    client, workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    refused, *_ = rendered_in(stripe.subscribe("pro", 5), OLDER)
    deliver(refused)
    fine = customer_for(workspace).subscribe("pro", 2)[0]
    deliver(fine)
    admin = UserFactory(is_staff=True)
    admin.groups.add(Group.objects.get(name=BILLING_ADMINS))
    client.force_login(admin)
    changelist = reverse("admin:billing_stripeevent_changelist")

    page = client.get(changelist).text
    filtered = client.get(changelist, {"refused": "api_version"}).text

    assert "1 event(s) were refused" in page
    assert API_VERSION in page
    assert f"⚠ {OLDER} (not supported)" in page
    assert refused["id"] in filtered
    assert fine["id"] not in filtered
