"""The admin of what Stripe sends: events (read-only, with a replay of failed ones), the
revenue ledger and invoices (read-only), billing settings (billing admins edit them)."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.roles import BILLING_ADMINS, SALES
from billing.models import BillingSettings, Invoice, Price, RevenueMovement, StripeEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def staff(*groups: str):
    user = UserFactory(is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


@pytest.fixture
def billing_client(client):
    client.force_login(staff(BILLING_ADMINS))
    return client


@pytest.fixture
def sales_client(client):
    client.force_login(staff(SALES))
    return client


@pytest.fixture
def failed_event(workspace, customer_for, deliver):
    """An event that failed: its Stripe price was not on the catalog yet."""
    stripe = customer_for(workspace)
    stripe.prices["pro"] = ("price_not_pasted_yet", 1200)
    created, *_ = stripe.subscribe("pro", 5)
    deliver(created)
    return StripeEvent.objects.get(stripe_id=created["id"])


def test_the_groups_hold_the_stripe_permissions():
    billing_admins = set(
        Group.objects.get(name=BILLING_ADMINS).permissions.values_list("codename", flat=True)
    )
    sales = set(Group.objects.get(name=SALES).permissions.values_list("codename", flat=True))

    assert {
        "view_stripeevent",
        "change_stripeevent",
        "view_revenuemovement",
        "view_invoice",
        "view_billingsettings",
        "change_billingsettings",
    } <= billing_admins
    assert "view_revenuemovement" in sales
    assert not {"view_stripeevent", "change_revenuemovement", "delete_revenuemovement"} & sales


def test_billing_admins_list_events_by_status_with_the_error(billing_client, failed_event):
    response = billing_client.get(
        reverse("admin:billing_stripeevent_changelist"), {"status": "failed"}
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert failed_event.stripe_id in page
    assert "price_not_pasted_yet" in page  # the error, in the list


def test_an_event_is_shown_read_only(billing_client, failed_event):
    url = reverse("admin:billing_stripeevent_change", args=[failed_event.pk])

    page = billing_client.get(url)
    posted = billing_client.post(url, {"status": "processed", "payload": "{}"})

    assert page.status_code == 200
    assert failed_event.stripe_id in page.content.decode()
    assert 'name="payload"' not in page.content.decode()
    assert posted.status_code == 403
    failed_event.refresh_from_db()
    assert failed_event.status == "failed"


def test_replay_resets_failed_events_and_processes_them_once_fixed(
    billing_client, failed_event, workspace, django_capture_on_commit_callbacks
):
    price = Price.objects.get(plan__code="pro", interval="month")
    price.stripe_price_id = "price_not_pasted_yet"
    price.save(update_fields=["stripe_price_id"])

    with django_capture_on_commit_callbacks(execute=True):
        response = billing_client.post(
            reverse("admin:billing_stripeevent_changelist"),
            {"action": "replay", "_selected_action": [failed_event.pk]},
            follow=True,
        )

    assert "1 failed event(s) queued again." in response.content.decode()
    failed_event.refresh_from_db()
    assert (failed_event.status, failed_event.attempts, failed_event.error) == ("processed", 2, "")
    assert RevenueMovement.objects.get().workspace_id == workspace.pk


def test_replay_leaves_events_that_did_not_fail_alone(
    billing_client, workspace, customer_for, deliver
):
    created, *_ = customer_for(workspace).subscribe("pro", 5)
    deliver(created)
    event = StripeEvent.objects.get()

    response = billing_client.post(
        reverse("admin:billing_stripeevent_changelist"),
        {"action": "replay", "_selected_action": [event.pk]},
        follow=True,
    )

    assert "1 event(s) were not failed and are left as they are." in response.content.decode()
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1)


def test_sales_reps_cannot_see_or_replay_events(sales_client, failed_event):
    assert sales_client.get(reverse("admin:billing_stripeevent_changelist")).status_code == 403


def test_the_ledger_is_read_only_for_everyone(
    billing_client, sales_client, workspace, customer_for, deliver
):
    deliver(*customer_for(workspace).subscribe("pro", 5))
    movement = RevenueMovement.objects.get()
    listing = reverse("admin:billing_revenuemovement_changelist")

    for client in (billing_client, sales_client):
        page = client.get(listing)
        assert page.status_code == 200
        assert "+$60" in page.content.decode()
        assert client.get(reverse("admin:billing_revenuemovement_add")).status_code == 403
        assert (
            client.post(
                reverse("admin:billing_revenuemovement_delete", args=[movement.pk]), {"post": "yes"}
            ).status_code
            == 403
        )
    assert RevenueMovement.objects.count() == 1


def test_invoices_are_read_only(billing_client, workspace, customer_for, deliver):
    deliver(*customer_for(workspace).subscribe("pro", 5))
    invoice = Invoice.objects.get()

    page = billing_client.get(reverse("admin:billing_invoice_changelist"))
    change = billing_client.post(
        reverse("admin:billing_invoice_change", args=[invoice.pk]), {"status": "void"}
    )

    assert page.status_code == 200
    assert "$60" in page.content.decode()
    assert change.status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_billing_admins_edit_the_grace_period(billing_client):
    listing = billing_client.get(reverse("admin:billing_billingsettings_changelist"))
    url = reverse("admin:billing_billingsettings_change", args=[1])

    response = billing_client.post(url, {"grace_period_days": 21})

    assert listing.status_code == 302
    assert listing["Location"] == url
    assert response.status_code == 302
    assert BillingSettings.load().grace_period_days == 21


def test_opening_the_billing_settings_writes_nothing_until_they_are_saved(billing_client):
    url = reverse("admin:billing_billingsettings_change", args=[1])

    listing = billing_client.get(reverse("admin:billing_billingsettings_changelist"))
    page = billing_client.get(url)

    assert (listing.status_code, listing["Location"]) == (302, url)
    assert page.status_code == 200
    assert 'value="14"' in page.text  # the default, shown
    assert not BillingSettings.objects.exists()
    assert BillingSettings.load().grace_period_days == 14

    billing_client.post(url, {"grace_period_days": 7})

    assert BillingSettings.objects.get().grace_period_days == 7


def test_sales_reps_cannot_edit_billing_settings(sales_client):
    listing = sales_client.get(reverse("admin:billing_billingsettings_changelist"))
    assert listing.status_code == 403

    response = sales_client.post(
        reverse("admin:billing_billingsettings_change", args=[1]), {"grace_period_days": 99}
    )

    assert response.status_code == 403
    assert BillingSettings.load().grace_period_days == 14
