# ruff: noqa: F811 - the Stripe tests' fixtures, imported, are parameters here
"""Trial ending, payment failed, subscription canceled or resumed: e-mailed to the owners
and admins from templates, after the transaction that mirrored the change commits, once
per moment however often Stripe delivers it, and recorded with the event that caused it."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client

from notifications.models import Kind, Notification
from notifications.services import notification_preferences_set
from tests.billing.stripe.conftest import (  # noqa: F401 - fixtures: a fake Stripe on 127.0.0.1
    customer_for,
    deliver,
    fake_stripe,
    stripe_prices,
)
from tests.billing.stripe.payloads import post_event
from tests.billing.stripe.test_handlers import at
from tests.factories import add_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def paying(workspace, admin_user, customer_for, deliver):
    add_member(workspace, "member@northwind.io", role="member")
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 4))
    mail.outbox.clear()
    return stripe


def _recipients() -> list[str]:
    return sorted(m.to[0] for m in mail.outbox)


def test_trial_ending_is_mailed_to_owners_and_admins_once_and_recorded_with_its_event(
    workspace,
    admin_user,
    customer_for,
    deliver,
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 4, trial_days=14))
    ending = stripe.trial_will_end()

    deliver(ending, ending)

    assert _recipients() == ["admin@northwind.io", "owner@northwind.io"]
    trial_end = at(stripe.subscription["trial_end"])
    assert mail.outbox[0].subject == (
        f"Your Pro trial for Northwind ends on {trial_end:%B} {trial_end.day}, {trial_end.year}"
    )
    assert "Add a payment method before then" in mail.outbox[0].body
    assert f"/w/{workspace.slug}/billing/" in mail.outbox[0].body
    records = Notification.objects.filter(kind=Kind.TRIAL_ENDING)
    assert {(n.channel, n.cause) for n in records} == {("email", f"Stripe event {ending['id']}")}
    assert all(n.sent_at is not None for n in records)


def test_a_failed_payment_says_when_the_grace_period_ends_and_cannot_be_turned_off(
    workspace,
    owner,
    paying,
    deliver,
):
    notification_preferences_set(user=owner, workspace=workspace, enabled=[])
    failed, past_due = paying.payment_fails()

    deliver(failed, past_due, failed)

    assert _recipients() == ["admin@northwind.io", "owner@northwind.io"]
    grace_until = at(failed["created"]) + timedelta(days=14)
    message = mail.outbox[0]
    assert message.subject == (
        f"Payment failed for Northwind: update the card by "
        f"{grace_until:%B} {grace_until.day}, {grace_until.year}"
    )
    assert f"until {grace_until:%B} {grace_until.day}, {grace_until.year}, " in message.body
    assert "unsubscribe" not in message.body
    assert Notification.objects.get(recipient=owner).cause == f"Stripe event {failed['id']}"


def test_cancel_then_resume_each_mail_once(workspace, paying, deliver):
    canceling = paying.update(cancel_at_period_end=True)
    deliver(canceling, canceling)
    ends = at(paying.subscription["items"]["data"][0]["current_period_end"])

    assert _recipients() == ["admin@northwind.io", "owner@northwind.io"]
    assert mail.outbox[0].subject == (
        f"Northwind's Pro subscription ends on {ends:%B} {ends.day}, {ends.year}"
    )
    assert "/notifications/unsubscribe/" in mail.outbox[0].body
    mail.outbox.clear()

    resumed = paying.update(cancel_at_period_end=False)
    deliver(resumed, resumed)

    assert [m.subject for m in mail.outbox] == ["Northwind's Pro subscription continues"] * 2
    assert Notification.objects.filter(kind=Kind.SUBSCRIPTION_CANCELED).count() == 2
    assert Notification.objects.filter(kind=Kind.SUBSCRIPTION_RESUMED).count() == 2


def test_an_immediate_cancellation_says_the_workspace_is_back_on_free(
    workspace,
    paying,
    deliver,
):
    deliver(paying.cancel())

    assert mail.outbox[0].subject == "Northwind's Pro subscription has ended"
    assert "The workspace is on the free plan now." in mail.outbox[0].body


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_lifecycle_mail_is_sent_only_after_the_transaction_commits(
    workspace,
    admin_user,
    customer_for,
):
    stripe = customer_for(workspace)
    client = Client()
    for evt in stripe.subscribe("pro", 4):
        assert post_event(client, evt).status_code == 200
    mail.outbox.clear()
    failed, past_due = stripe.payment_fails()

    with transaction.atomic():
        assert post_event(client, failed).status_code == 200
        assert post_event(client, past_due).status_code == 200
        # processed (eagerly) inside the transaction: nothing recorded or sent yet
        assert mail.outbox == []
        assert not Notification.objects.exists()

    assert _recipients() == ["admin@northwind.io", "owner@northwind.io"]
    assert Notification.objects.filter(kind=Kind.PAYMENT_FAILED, sent_at__isnull=False).count() == 2


def test_a_trial_that_no_longer_trials_mails_nothing_from_an_old_queued_task(
    workspace,
    customer_for,
    deliver,
):
    from billing.emails import trial_ending_notify

    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 4))
    mail.outbox.clear()

    assert trial_ending_notify.delay(workspace.pk, "evt_old").get() == 0
    assert mail.outbox == []


def test_seats_near_the_seats_paid_offer_to_add_seats(
    workspace, customer_for, deliver, django_capture_on_commit_callbacks, settings
):
    settings.HANDOFF_SITE_URL = "https://handoff.example"
    deliver(*customer_for(workspace).subscribe("pro", 5))  # Pro per seat: 5 paid, cap 50
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):  # the owner and 3 more: 4 of 5 seats
            add_member(workspace, f"person{n}@northwind.io", role="member")

    message = mail.outbox[-1]
    assert message.to == ["owner@northwind.io"]
    assert message.subject == "Northwind has used 80% of its Seats limit"
    assert "4 of the 5 seats (Seats) it pays for on the Pro plan: 80% of the limit" in message.body
    assert f"Add seats: https://handoff.example/w/{workspace.slug}/plan/" in message.body
    assert Notification.objects.get(channel="in_app").cause == (
        "A new member or invitation took Seats to 4 of 5"
    )
