"""Two live subscriptions for one workspace (two checkouts completed), and a new
subscription whose events arrived behind an older one's end."""

import io

import pytest
from django.core.management import call_command

from billing.models import RevenueMovement, Subscription

pytestmark = pytest.mark.django_db


def test_a_second_live_subscription_is_reported_by_reconciliation(workspace, customer_for, deliver):
    first = customer_for(workspace)
    deliver(*first.subscribe("pro", 5))
    second = customer_for(workspace, clock=first.clock + 60)

    deliver(*second.subscribe("business", 5))  # two checkouts completed: both live

    sub = Subscription.objects.get(workspace=workspace)
    assert sub.stripe_subscription_id == second.subscription["id"]  # the newest takes over
    assert sum(RevenueMovement.objects.values_list("mrr_delta_cents", flat=True)) == (sub.mrr_cents)
    out = io.StringIO()
    call_command("reconcile_stripe", stdout=out)
    assert (
        f"a second live subscription {first.subscription['id']} besides "
        f"{second.subscription['id']}: cancel one in Stripe" in out.getvalue()
    )


def test_reconcile_mirrors_a_live_subscription_whose_events_came_behind_an_old_end(
    workspace, customer_for, deliver
):
    old = customer_for(workspace)
    deliver(*old.subscribe("pro", 5))
    new = customer_for(workspace, clock=old.clock + 50)
    created = new.subscribe("business", 4)  # Stripe: at old.clock + 51
    old.tick(100)
    deliver(old.cancel())  # the old one's end (later) arrives first …
    deliver(*created)  # … so the new one's older events are skipped
    assert Subscription.objects.get(workspace=workspace).plan.code == "free"

    out = io.StringIO()
    call_command("reconcile_stripe", stdout=out)

    sub = Subscription.objects.get(workspace=workspace)
    assert sub.stripe_subscription_id == new.subscription["id"]
    assert (sub.plan.code, sub.seats, sub.mrr_cents) == ("business", 4, 9_600)
    assert "from the unmirrored Stripe" in out.getvalue()
    assert sum(RevenueMovement.objects.values_list("mrr_delta_cents", flat=True)) == 9_600
