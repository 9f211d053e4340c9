"""``manage.py reconcile_stripe``: recovers the events Stripe sent that never arrived, then
repairs every paid subscription that drifted from Stripe's, printing one line per change."""

import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import RevenueMovement, StripeEvent, Subscription
from billing.stripe.handlers import HANDLED_TYPES
from billing.stripe.reconcile import stripe_reconcile
from config.celery_app import app as celery_app

pytestmark = pytest.mark.django_db


def reconcile() -> list[str]:
    out = StringIO()
    call_command("reconcile_stripe", stdout=out)
    return out.getvalue().splitlines()


def test_nothing_to_repair_when_the_mirror_matches_stripe(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))

    assert reconcile() == ["nothing to repair"]
    assert RevenueMovement.objects.count() == 1
    events_request = fake_stripe.requests_to("/v1/events")[0]
    assert sorted(events_request.query["types"]) == sorted(HANDLED_TYPES)
    three_days_ago = time.time() - 3 * 86_400
    assert abs(int(events_request.query["created[gte]"][0]) - three_days_ago) < 60


def test_drift_is_repaired_from_stripe_with_an_event_less_movement(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)  # its events are months old: beyond Stripe's recovery
    deliver(*stripe.subscribe("pro", 5))
    stripe.update(seats=9)  # never delivered

    lines = reconcile()

    sub = Subscription.objects.get(workspace=workspace)
    assert (sub.seats, sub.mrr_cents) == (9, 10_800)
    assert lines == [
        f"{workspace.slug}: pro, 5 seats, active → pro, 9 seats, active from Stripe "
        f"{stripe.subscription['id']}, MRR 6000 → 10800 usd"
    ]
    repair = RevenueMovement.objects.last()
    assert (repair.kind, repair.mrr_delta_cents, repair.stripe_event) == ("expansion", 4800, None)
    assert reconcile() == ["nothing to repair"]


def test_a_subscription_canceled_at_stripe_without_an_event_churns(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("business", 2))
    stripe.cancel()  # never delivered

    stripe_reconcile()

    sub = Subscription.objects.select_related("plan").get(workspace=workspace)
    assert (sub.plan.code, sub.status, sub.mrr_cents) == ("free", "canceled", 0)
    assert RevenueMovement.objects.last().kind == "churn"


def test_events_that_never_arrived_are_stored_and_processed(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace, clock=int(time.time()) - 3600)
    deliver(*stripe.subscribe("pro", 5))
    lost = stripe.update(seats=7)  # Stripe holds it; the webhook never arrived

    lines = reconcile()

    assert lines == [f"recovered {lost['id']} (customer.subscription.updated): processed"]
    assert StripeEvent.objects.get(stripe_id=lost["id"]).status == "processed"
    movement = RevenueMovement.objects.last()
    assert (movement.kind, movement.stripe_event.stripe_id) == ("expansion", lost["id"])
    assert Subscription.objects.get(workspace=workspace).seats == 7
    assert reconcile() == ["nothing to repair"]


def test_a_subscription_stripe_does_not_know_is_reported(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    fake_stripe.subscriptions.clear()

    lines = reconcile()

    assert len(lines) == 1
    assert lines[0].startswith(f"workspace {workspace.pk}: Stripe has no subscription")
    assert Subscription.objects.get(workspace=workspace).seats == 5


def test_reconciliation_runs_nightly_from_the_beat_schedule():
    entry = celery_app.conf.beat_schedule["billing-stripe-reconcile"]

    assert entry["task"] == "billing.tasks.stripe_reconcile"
    assert entry["schedule"].hour == {3}


def test_an_unreachable_stripe_stops_the_command_with_a_clear_error(fake_stripe):
    fake_stripe.fail_next("/v1/events", status=503)

    with pytest.raises(CommandError, match="Stripe cannot be reached; run it again later"):
        call_command("reconcile_stripe", stdout=StringIO())
