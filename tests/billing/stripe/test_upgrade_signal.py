"""``billing.signals.workspace_upgraded``: sent once per upgrade, after the commit — not for
seat changes, not for a duplicate delivery, not for a replay."""

import pytest
from django.contrib.auth.models import Group

from accounts.roles import BILLING_ADMINS
from billing.models import Price, StripeEvent
from billing.signals import workspace_upgraded
from billing.stripe.reconcile import stripe_reconcile
from billing.tasks import stripe_event_process
from tests.billing.stripe.payloads import post_event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def upgrades():
    received: list[dict] = []

    def receiver(sender, **kwargs):
        kwargs.pop("signal")
        received.append(kwargs)

    workspace_upgraded.connect(receiver, weak=False)
    yield received
    workspace_upgraded.disconnect(receiver)


def test_a_free_workspace_that_subscribes_is_announced_once_with_its_mrr(
    workspace, customer_for, deliver, upgrades
):
    created, checkout, paid = customer_for(workspace).subscribe("pro", 5)

    deliver(created, checkout, paid, created, checkout)

    assert upgrades == [
        {
            "workspace_id": workspace.pk,
            "plan_code": "pro",
            "mrr_delta_cents": 6000,
            "stripe_event_id": created["id"],
        }
    ]


def test_the_signal_is_sent_only_after_the_commit(
    client, workspace, customer_for, upgrades, django_capture_on_commit_callbacks
):
    created, *_ = customer_for(workspace).subscribe("pro", 5)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_event(client, created)
    with django_capture_on_commit_callbacks(execute=False) as after_processing:
        callbacks[0]()  # the task runs; its upgrade waits for its own commit

    assert upgrades == []
    for callback in after_processing:
        callback()
    assert len(upgrades) == 1


def test_adding_seats_is_not_an_upgrade(workspace, customer_for, deliver, upgrades):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))

    deliver(stripe.update(seats=8))
    deliver(stripe.update(seats=20))

    assert len(upgrades) == 1  # the subscription itself


def test_a_higher_tier_is_an_upgrade_and_a_lower_one_is_not(
    workspace, customer_for, deliver, upgrades
):
    stripe = customer_for(workspace)
    subscribed, *_ = stripe.subscribe("pro", 4)
    deliver(*stripe.events)
    to_business = stripe.update(price="business")

    deliver(to_business, to_business)
    deliver(stripe.update(price="pro"))

    assert [(u["plan_code"], u["mrr_delta_cents"], u["stripe_event_id"]) for u in upgrades] == [
        ("pro", 4800, subscribed["id"]),
        ("business", 4800, to_business["id"]),  # 4 seats: $48 → $96
    ]


def test_a_trial_is_announced_when_it_converts_not_when_it_starts(
    workspace, customer_for, deliver, upgrades
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("business", 3, trial_days=14))

    assert upgrades == []

    converted = stripe.update(status="active")
    deliver(converted)

    assert [(u["plan_code"], u["mrr_delta_cents"], u["stripe_event_id"]) for u in upgrades] == [
        ("business", 7200, converted["id"])
    ]


def test_a_failed_event_replayed_after_the_fix_announces_the_upgrade_once(
    client, workspace, customer_for, deliver, upgrades, django_capture_on_commit_callbacks
):
    stripe = customer_for(workspace)
    price = Price.objects.get(plan__code="pro", interval="month")
    stripe.prices["pro"] = ("price_pasted_later", price.amount_cents)
    created, *_ = stripe.subscribe("pro", 5)
    deliver(created)
    assert StripeEvent.objects.get(stripe_id=created["id"]).status == "failed"
    assert upgrades == []

    price.stripe_price_id = "price_pasted_later"  # the billing admin fixes the catalog
    price.save(update_fields=["stripe_price_id"])
    admin = UserFactory(is_staff=True)
    admin.groups.add(Group.objects.get(name=BILLING_ADMINS))
    client.force_login(admin)
    replay = {
        "action": "replay",
        "_selected_action": [StripeEvent.objects.get(stripe_id=created["id"]).pk],
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/admin/billing/stripeevent/", replay).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):  # the task runs again
        stripe_event_process.apply(args=[replay["_selected_action"][0]])
    deliver(created)  # and Stripe delivers it once more
    stripe_reconcile()  # nothing drifted: reconciliation announces nothing either

    assert StripeEvent.objects.get(stripe_id=created["id"]).status == "processed"
    assert [(u["plan_code"], u["stripe_event_id"]) for u in upgrades] == [("pro", created["id"])]
