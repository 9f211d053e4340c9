"""Each handled event type mirrors Stripe into the workspace's subscription: delivered once,
delivered twice (one effect), and arriving out of order (an older state never wins)."""

from datetime import UTC, datetime

import pytest
from django.core import mail

from billing.models import Invoice, Plan, Price, RevenueMovement, StripeEvent, Subscription
from tests.billing.stripe.payloads import DAY, START, checkout_session, event, subscription, unique
from tests.factories import add_member
from usage.models import ProductEvent

pytestmark = pytest.mark.django_db


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def mirror(workspace) -> Subscription:
    return Subscription.objects.select_related("plan", "price").get(workspace=workspace)


def status_of(evt: dict) -> tuple[str, str]:
    stored = StripeEvent.objects.get(stripe_id=evt["id"])
    return stored.status, stored.error


# customer.subscription.created / checkout.session.completed ---------------------------------


def test_subscription_created_links_the_workspace_by_metadata_and_mirrors_the_item(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    created, _checkout, _paid = stripe.subscribe("pro", 5)

    deliver(created)

    sub = mirror(workspace)
    item = stripe.subscription["items"]["data"][0]
    assert sub.stripe_subscription_id == stripe.subscription["id"]
    assert sub.stripe_customer_id == stripe.customer_id
    assert (sub.plan.code, sub.price.interval, sub.seats, sub.status) == (
        "pro",
        "month",
        5,
        "active",
    )
    assert sub.current_period_start == at(item["current_period_start"])
    assert sub.current_period_end == at(item["current_period_end"])
    assert (sub.cancel_at_period_end, sub.canceled_at, sub.trial_end) == (False, None, None)
    assert sub.stripe_watermark == at(created["created"])
    assert (sub.mrr_cents, sub.currency) == (6000, "usd")
    assert fake_stripe.requests == []  # the normal path never calls Stripe


def test_subscription_created_delivered_twice_records_one_revenue_movement(
    workspace, customer_for, deliver
):
    created, *_ = customer_for(workspace).subscribe("pro", 5)

    deliver(created, created)

    assert RevenueMovement.objects.count() == 1
    assert StripeEvent.objects.get().attempts == 1
    assert mirror(workspace).mrr_cents == 6000


def test_checkout_completed_after_the_subscription_events_only_links_the_customer(
    workspace, customer_for, deliver, fake_stripe
):
    created, checkout, _paid = customer_for(workspace).subscribe("pro", 5)

    deliver(created, checkout, checkout)

    assert status_of(checkout) == ("processed", "")
    assert fake_stripe.requests == []
    assert RevenueMovement.objects.count() == 1


def test_checkout_completed_before_the_subscription_events_fetches_and_applies_it(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    created, checkout, _paid = stripe.subscribe("pro", 5)

    deliver(checkout, checkout)

    sub = mirror(workspace)
    assert sub.stripe_subscription_id == stripe.subscription["id"]
    assert sub.stripe_customer_id == stripe.customer_id
    assert (sub.plan.code, sub.seats, sub.mrr_cents) == ("pro", 5, 6000)
    assert len(fake_stripe.requests_to(f"/v1/subscriptions/{stripe.subscription['id']}")) == 1
    movement = RevenueMovement.objects.get()
    assert movement.stripe_event.stripe_id == checkout["id"]

    deliver(created)  # the subscription's own event, same second and same state: a no-op

    assert status_of(created) == ("processed", "")
    assert RevenueMovement.objects.count() == 1
    assert len(fake_stripe.requests) == 1


def test_checkout_for_a_payment_not_a_subscription_is_skipped(workspace, deliver):
    session = checkout_session(
        session_id=unique("cs"),
        workspace_id=workspace.pk,
        customer_id="cus_x",
        subscription_id="",
    )
    session["mode"] = "payment"
    evt = event("checkout.session.completed", session, created=START)

    deliver(evt)

    assert status_of(evt) == ("skipped", "a payment checkout, not a subscription")
    assert mirror(workspace).stripe_customer_id == ""


def test_a_subscription_no_workspace_claims_is_fetched_and_linked_by_its_metadata_at_stripe(
    workspace, stripe_prices, deliver, fake_stripe
):
    price_id, amount = stripe_prices["business"]
    bare = subscription(
        subscription_id=unique("sub"),
        customer_id=unique("cus"),
        price_id=price_id,
        unit_amount=amount,
        quantity=3,
        workspace_id=None,  # e.g. made in the dashboard; the metadata was added since
    )
    at_stripe = {**bare, "metadata": {"workspace_id": str(workspace.pk)}}
    fake_stripe.put_subscription(at_stripe)
    evt = event("customer.subscription.updated", bare, created=START)

    deliver(evt)

    assert status_of(evt) == ("processed", "")
    assert mirror(workspace).stripe_subscription_id == bare["id"]
    assert mirror(workspace).mrr_cents == 3 * 2400
    assert len(fake_stripe.requests_to(f"/v1/subscriptions/{bare['id']}")) == 1


def test_a_subscription_of_another_product_on_the_stripe_account_is_skipped_not_failed(
    workspace, deliver, fake_stripe
):
    bare = subscription(
        subscription_id=unique("sub"),
        customer_id=unique("cus"),
        price_id="price_of_another_product",  # on no catalog price, and no workspace's
        quantity=1,
    )
    fake_stripe.put_subscription(bare)
    evt = event("customer.subscription.created", bare, created=START)

    deliver(evt)

    assert status_of(evt) == ("skipped", f"no workspace claims subscription {bare['id']}")
    assert mirror(workspace).stripe_subscription_id == ""
    assert not RevenueMovement.objects.exists()


# customer.subscription.updated --------------------------------------------------------------


def test_more_seats_is_an_expansion_delivered_twice_recorded_once(workspace, customer_for, deliver):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    more = stripe.update(seats=8)

    deliver(more, more)

    sub = mirror(workspace)
    assert (sub.seats, sub.mrr_cents) == (8, 9600)
    expansion = RevenueMovement.objects.get(stripe_event__stripe_id=more["id"])
    assert (expansion.kind, expansion.mrr_delta_cents, expansion.mrr_after_cents) == (
        "expansion",
        3600,
        9600,
    )


def test_an_older_update_arriving_after_a_newer_one_is_skipped_with_the_reason(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    older = stripe.update(seats=8)
    newer = stripe.update(seats=6)

    deliver(newer, older)

    assert mirror(workspace).seats == 6
    status, reason = status_of(older)
    assert status == "skipped"
    assert reason.startswith("older than the state applied")
    assert mirror(workspace).stripe_watermark == at(newer["created"])


def test_cancel_at_period_end_is_mirrored_without_a_revenue_change(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))

    deliver(stripe.update(cancel_at_period_end=True))

    sub = mirror(workspace)
    assert sub.cancel_at_period_end is True
    assert sub.status == "active"
    assert RevenueMovement.objects.count() == 1


def test_a_price_no_catalog_price_carries_fails_the_event_with_what_to_do(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    stripe.prices["mystery"] = ("price_not_in_the_catalog", 999)
    created, *_ = stripe.subscribe("mystery", 2)

    deliver(created)

    stored = StripeEvent.objects.get(stripe_id=created["id"])
    assert stored.status == StripeEvent.Status.FAILED
    assert "price_not_in_the_catalog" in stored.error
    assert "replay this event" in stored.error
    assert stored.attempts == 1  # not retried: it needs a person
    assert mirror(workspace).stripe_subscription_id == ""


# customer.subscription.deleted / other ended statuses ---------------------------------------


def test_a_deleted_subscription_puts_the_workspace_back_on_the_free_plan_once(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    deleted = stripe.cancel()

    deliver(deleted, deleted)

    sub = mirror(workspace)
    assert (sub.plan.code, sub.price, sub.seats, sub.status) == ("free", None, 0, "canceled")
    assert sub.canceled_at == at(deleted["created"])
    churn = RevenueMovement.objects.get(stripe_event__stripe_id=deleted["id"])
    assert (churn.kind, churn.mrr_delta_cents, churn.mrr_after_cents, churn.plan_code) == (
        "churn",
        -6000,
        0,
        "pro",
    )


def test_an_update_arriving_after_the_deletion_does_not_bring_the_plan_back(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    late = stripe.update(seats=9)
    deleted = stripe.cancel()

    deliver(deleted, late)

    assert mirror(workspace).status == "canceled"
    assert status_of(late)[0] == "skipped"


@pytest.mark.parametrize("stripe_status", ["unpaid", "incomplete_expired", "paused"])
def test_subscriptions_stripe_stopped_collecting_are_mirrored_as_canceled(
    workspace, customer_for, deliver, stripe_status
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))

    deliver(stripe.update(status=stripe_status))

    sub = mirror(workspace)
    assert (sub.plan.code, sub.status, sub.mrr_cents) == ("free", "canceled", 0)
    assert RevenueMovement.objects.last().kind == "churn"


def test_an_incomplete_subscription_leaves_the_workspace_on_its_plan_until_paid(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    created, _checkout, _paid = stripe.subscribe("pro", 5)
    created["data"]["object"]["status"] = "incomplete"

    deliver(created)

    sub = mirror(workspace)
    assert (sub.plan.code, sub.stripe_subscription_id, sub.mrr_cents) == ("free", "", 0)
    assert sub.stripe_customer_id == stripe.customer_id
    assert "incomplete" in status_of(created)[1]

    deliver(stripe.update(status="active"))  # the first payment went through

    sub = mirror(workspace)
    assert (sub.plan.code, sub.status, sub.mrr_cents) == ("pro", "active", 6000)


# Trials and customer.subscription.trial_will_end --------------------------------------------


def test_a_trial_mirrors_the_plan_at_no_revenue_until_it_converts(workspace, customer_for, deliver):
    stripe = customer_for(workspace)
    created, checkout = stripe.subscribe("pro", 4, trial_days=14)

    deliver(created, checkout)

    sub = mirror(workspace)
    assert (sub.plan.code, sub.status, sub.mrr_cents) == ("pro", "trialing", 0)
    assert sub.trial_end == at(created["created"] + 14 * DAY)
    assert not RevenueMovement.objects.exists()

    deliver(stripe.update(status="active", trial_end=stripe.subscription["trial_end"]))

    movement = RevenueMovement.objects.get()
    assert (movement.kind, movement.mrr_delta_cents) == ("new", 4 * 1200)


def test_trial_will_end_mails_the_owners_once_and_records_a_product_event(
    workspace, owner, customer_for, deliver
):
    add_member(workspace, "second-owner@northwind.io", role="owner")
    add_member(workspace, "member@northwind.io", role="member")
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 4, trial_days=14))
    mail.outbox.clear()
    ending = stripe.trial_will_end()

    deliver(ending, ending)

    # one e-mail to each owner (each with their own unsubscribe link), none to the member
    assert sorted(m.to[0] for m in mail.outbox) == [
        "owner@northwind.io",
        "second-owner@northwind.io",
    ]
    assert all("Pro trial for Northwind ends" in m.subject for m in mail.outbox)
    product_event = ProductEvent.objects.get(workspace=workspace, name="trial_will_end")
    assert product_event.properties["plan"] == "pro"
    assert product_event.occurred_at == at(ending["created"])


def test_trial_will_end_arriving_after_the_trial_converted_sends_nothing(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 4, trial_days=14))
    ending = stripe.trial_will_end()
    converted = stripe.update(status="active")
    mail.outbox.clear()

    deliver(converted, ending)

    assert mail.outbox == []
    assert not ProductEvent.objects.filter(name="trial_will_end").exists()
    assert mirror(workspace).status == "active"


# invoice.paid / invoice.payment_failed ------------------------------------------------------


def test_invoice_paid_stores_the_invoice_once(workspace, customer_for, deliver):
    stripe = customer_for(workspace)
    created, _checkout, paid = stripe.subscribe("pro", 5)

    deliver(created, paid, paid)

    invoice = Invoice.objects.get()
    obj = paid["data"]["object"]
    assert (invoice.stripe_id, invoice.workspace_id, invoice.status) == (
        obj["id"],
        workspace.pk,
        "paid",
    )
    assert (invoice.amount_due_cents, invoice.amount_paid_cents, invoice.currency) == (
        6000,
        6000,
        "usd",
    )
    assert invoice.hosted_invoice_url == obj["hosted_invoice_url"]
    assert invoice.period_end == at(obj["period_end"])


def test_a_failed_payment_marks_the_subscription_past_due_once(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    failed, went_past_due = stripe.payment_fails()

    deliver(failed, failed)

    sub = mirror(workspace)
    assert sub.status == "past_due"
    assert sub.past_due_since == at(failed["created"])
    assert sub.mrr_cents == 6000  # past due still counts until Stripe gives up
    assert Invoice.objects.get(stripe_id=failed["data"]["object"]["id"]).status == "open"

    deliver(went_past_due)  # Stripe's own update, same second, same state: nothing changes

    assert mirror(workspace).past_due_since == at(failed["created"])
    assert fake_stripe.requests == []
    assert RevenueMovement.objects.count() == 1


def test_a_paid_invoice_brings_a_past_due_subscription_back_with_stripes_status(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    deliver(*stripe.payment_fails())
    paid, back_to_active = stripe.payment_recovers()

    deliver(paid, paid)

    sub = mirror(workspace)
    assert (sub.status, sub.past_due_since) == ("active", None)
    assert len(fake_stripe.requests_to(f"/v1/subscriptions/{stripe.subscription['id']}")) == 1

    deliver(back_to_active)

    assert mirror(workspace).status == "active"
    assert len(fake_stripe.requests) == 1
    assert RevenueMovement.objects.count() == 1


def test_an_older_active_state_arriving_after_the_failed_payment_keeps_it_past_due(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    seats = stripe.update(seats=7)
    failed, _went_past_due = stripe.payment_fails()

    deliver(failed, seats)

    sub = mirror(workspace)
    assert (sub.status, sub.seats) == ("past_due", 7)  # the seats apply, the status stays


def test_a_failed_payment_older_than_the_recovery_stores_the_invoice_only(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    failed, _went_past_due = stripe.payment_fails()
    _paid, back_to_active = stripe.payment_recovers()

    deliver(back_to_active, failed)

    assert mirror(workspace).status == "active"
    assert status_of(failed)[0] == "skipped"
    assert Invoice.objects.filter(stripe_id=failed["data"]["object"]["id"]).exists()


def test_an_old_paid_invoice_does_not_lift_a_newer_failure(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    created, _checkout, first_paid = stripe.subscribe("pro", 5)
    deliver(created)
    deliver(*stripe.payment_fails())

    deliver(first_paid)

    assert mirror(workspace).status == "past_due"
    assert fake_stripe.requests == []


def test_an_invoice_event_turning_final_is_not_taken_back_by_an_older_one(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    failed, _went_past_due = stripe.payment_fails()
    paid = dict(failed, id=unique("evt"), type="invoice.paid", created=failed["created"] + 5)
    paid["data"] = {"object": {**failed["data"]["object"], "status": "paid"}}

    deliver(paid, failed)

    assert Invoice.objects.get(stripe_id=failed["data"]["object"]["id"]).status == "paid"


def test_an_invoice_for_a_subscription_not_linked_yet_fetches_it(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    _created, _checkout, paid = stripe.subscribe("business", 2)

    deliver(paid)

    sub = mirror(workspace)
    assert (sub.plan.code, sub.seats, sub.mrr_cents) == ("business", 2, 4800)
    assert Invoice.objects.get().workspace_id == workspace.pk
    assert len(fake_stripe.requests) == 1


# Money ----------------------------------------------------------------------------------------


def test_a_yearly_price_counts_a_twelfth_of_its_amount_per_month(workspace, customer_for, deliver):
    deliver(*customer_for(workspace).subscribe("business_yearly", 3))

    assert mirror(workspace).mrr_cents == 3 * 24_000 // 12


def test_a_flat_fee_in_stripe_bills_once_whatever_the_quantity(workspace, customer_for, deliver):
    """A flat price is, in Stripe, a volume-tiered price whose one tier is a flat amount:
    what it bills does not grow with the seats."""
    plan = Plan.objects.get(code="business")
    flat = Price.objects.create(
        plan=plan,
        interval="month",
        amount_cents=49_900,
        currency="eur",
        scheme="flat",
        stripe_price_id="price_business_flat_eur",
    )
    stripe = customer_for(workspace)
    stripe.prices["flat"] = (flat.stripe_price_id, 0)
    tier = {"up_to": None, "flat_amount": 49_900, "flat_amount_decimal": "49900"}
    stripe.price_fields["flat"] = {
        "currency": "eur",
        "billing_scheme": "tiered",
        "tiers_mode": "volume",
        "tiers": [tier | {"unit_amount": 0, "unit_amount_decimal": "0"}],
        "unit_amount": None,
        "unit_amount_decimal": None,
    }

    deliver(*stripe.subscribe("flat", 1))
    deliver(stripe.update(seats=30))

    sub = mirror(workspace)
    assert (sub.mrr_cents, sub.currency, sub.seats) == (49_900, "eur", 30)
    assert RevenueMovement.objects.get().currency == "eur"
