"""Reconciliation in bounded chunks: Stripe's lists read 100 objects a call (never one call
per subscription), paced within the rate limit with a backoff on 429, resumable after a
run dies, and a Celery task that queues its next chunk."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing.models import RevenueMovement, StripeReconcileRun, Subscription
from billing.stripe.client import StripeUnavailable
from billing.stripe.pacing import BACKOFF_SECONDS, Pacer
from billing.stripe.reconcile import stripe_reconcile
from billing.stripe.verify import ledger_verify
from billing.tasks import stripe_reconcile as stripe_reconcile_task
from tests.billing.stripe.payloads import post_event, subscription, unique

pytestmark = pytest.mark.django_db

UNMIRRORED = 150  # with the customer's own: two pages of Stripe's list


def reconcile() -> list[str]:
    out = StringIO()
    call_command("reconcile_stripe", stdout=out)
    return out.getvalue().splitlines()


def others_at_stripe(fake_stripe, stripe_prices, count=UNMIRRORED) -> None:
    """Subscriptions of other Stripe customers no workspace here knows (no metadata)."""
    price_id, amount = stripe_prices["pro"]
    for _ in range(count):
        fake_stripe.put_subscription(
            subscription(
                subscription_id=unique("sub"),
                customer_id=unique("cus"),
                price_id=price_id,
                quantity=2,
                unit_amount=amount,
            )
        )


def drifted(workspace, customer_for, deliver, fake_stripe, stripe_prices):
    """A workspace on Pro with 5 seats whose change to 9 seats at Stripe never arrived, listed last
    (on the second page)."""
    others_at_stripe(fake_stripe, stripe_prices)
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    stripe.update(seats=9)  # never delivered; months old, beyond the event recovery
    return stripe


def list_requests(fake_stripe):
    return fake_stripe.requests_to("/v1/subscriptions", "GET")


def test_the_subscriptions_are_read_a_page_of_100_at_a_time(
    workspace, customer_for, deliver, fake_stripe, stripe_prices
):
    stripe = drifted(workspace, customer_for, deliver, fake_stripe, stripe_prices)

    lines = reconcile()

    assert lines == [
        f"{workspace.slug}: pro, 5 seats, active → pro, 9 seats, active from Stripe "
        f"{stripe.subscription['id']}, MRR 6000 → 10800 usd"
    ]
    pages = list_requests(fake_stripe)
    assert [(r.query["limit"], r.query.get("starting_after")) for r in pages] == [
        (["100"], None),
        (["100"], [list(fake_stripe.subscriptions)[99]]),
    ]
    assert pages[0].query["expand"] == ["data.discounts.source.coupon"]
    assert not [r for r in fake_stripe.requests if r.path.startswith("/v1/subscriptions/")]
    run = StripeReconcileRun.objects.get()
    assert (run.phase, run.open, run.changes) == ("done", False, 1)
    assert run.pages == 5  # events, pending events, two of subscriptions, missing
    assert ledger_verify() == []


def test_a_consistent_state_has_nothing_to_repair(
    workspace, customer_for, deliver, fake_stripe, stripe_prices
):
    others_at_stripe(fake_stripe, stripe_prices)
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5), stripe.update(seats=7))
    movements = RevenueMovement.objects.count()

    assert reconcile() == ["nothing to repair"]
    assert reconcile() == ["nothing to repair"]

    assert RevenueMovement.objects.count() == movements
    assert Subscription.objects.get(workspace=workspace).seats == 7
    assert len(list_requests(fake_stripe)) == 4
    assert StripeReconcileRun.objects.filter(open=True).count() == 0
    assert ledger_verify() == []


def test_a_subscription_created_after_the_list_passed_is_fetched_at_the_end(
    workspace, customer_for, deliver, fake_stripe, stripe_prices
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    stripe.update(seats=8)
    # Not in the list when it is read (created meanwhile, say), retrievable afterwards.
    listed = fake_stripe.subscriptions.pop(stripe.subscription["id"])
    fake_stripe.after_next_answer("/v1/subscriptions", lambda: fake_stripe.put_subscription(listed))

    lines = reconcile()

    assert lines == [
        f"{workspace.slug}: pro, 5 seats, active → pro, 8 seats, active from Stripe "
        f"{stripe.subscription['id']}, MRR 6000 → 9600 usd"
    ]
    assert len(fake_stripe.requests_to(f"/v1/subscriptions/{stripe.subscription['id']}")) == 1


def test_calls_are_spaced_within_the_rate(settings):
    settings.HANDOFF_STRIPE_RECONCILE_RATE = 25
    sleeps: list[float] = []
    pacer = Pacer(sleep=sleeps.append, clock=lambda: 100.0)  # every call at the same instant

    assert [pacer.call(lambda n=n: n) for n in range(3)] == [0, 1, 2]

    assert sleeps == [pytest.approx(0.04), pytest.approx(0.08)]


def test_a_429_is_retried_after_backing_off(
    workspace, customer_for, deliver, fake_stripe, stripe_prices
):
    drifted(workspace, customer_for, deliver, fake_stripe, stripe_prices)
    fake_stripe.fail_next("/v1/subscriptions", status=429, times=3)
    sleeps: list[float] = []

    lines = stripe_reconcile(pacer=Pacer(sleep=sleeps.append))

    assert len(lines) == 1
    assert [s for s in sleeps if s >= 1] == [1, 2, 4]
    assert len(list_requests(fake_stripe)) == 2 + 3
    assert Subscription.objects.get(workspace=workspace).seats == 9


def test_still_rate_limited_after_the_backoff_stops_the_run_where_it_is(
    workspace, customer_for, deliver, fake_stripe, stripe_prices
):
    drifted(workspace, customer_for, deliver, fake_stripe, stripe_prices)
    fake_stripe.fail_next("/v1/subscriptions", status=429, times=len(BACKOFF_SECONDS) + 1)
    sleeps: list[float] = []

    with pytest.raises(StripeUnavailable, match="Too many requests"):
        stripe_reconcile(pacer=Pacer(sleep=sleeps.append))

    assert [s for s in sleeps if s >= 1] == [1, 2, 4, 8, 16]
    run = StripeReconcileRun.objects.get()
    assert (run.open, run.phase, run.cursor, run.lease_token) == (True, "subscriptions", "", "")
    assert len(stripe_reconcile(pacer=Pacer(sleep=sleeps.append))) == 1  # carries on


def test_a_run_that_dies_is_continued_from_its_last_page(
    workspace, customer_for, deliver, fake_stripe, stripe_prices
):
    stripe = drifted(workspace, customer_for, deliver, fake_stripe, stripe_prices)
    # Stripe answers the first page, then fails the second.
    fake_stripe.after_next_answer(
        "/v1/subscriptions", lambda: fake_stripe.fail_next("/v1/subscriptions", status=500)
    )

    with pytest.raises(CommandError, match="carries on from the last page done"):
        reconcile()

    run = StripeReconcileRun.objects.get()
    first_page_last = list(fake_stripe.subscriptions)[99]
    assert (run.open, run.phase, run.cursor) == (True, "subscriptions", first_page_last)
    assert Subscription.objects.get(workspace=workspace).seats == 5
    # The process died holding the lease: nobody else starts while it holds …
    StripeReconcileRun.objects.filter(pk=run.pk).update(
        leased_until=timezone.now() + timedelta(minutes=5), lease_token="dead-worker"
    )
    with pytest.raises(CommandError, match="Another reconciliation is running"):
        reconcile()
    # … and once it has expired, the next run takes over from the last page stored.
    StripeReconcileRun.objects.filter(pk=run.pk).update(
        leased_until=timezone.now() - timedelta(seconds=1)
    )

    lines = reconcile()

    assert lines == [
        f"{workspace.slug}: pro, 5 seats, active → pro, 9 seats, active from Stripe "
        f"{stripe.subscription['id']}, MRR 6000 → 10800 usd"
    ]
    pages = list_requests(fake_stripe)
    assert [r.query.get("starting_after") for r in pages] == [
        None,
        [first_page_last],  # failed
        [first_page_last],  # resumed: the first page is not read again
    ]
    assert len(fake_stripe.requests_to("/v1/events")) == 1
    run.refresh_from_db()
    assert (run.open, run.phase, run.changes) == (False, "done", 1)
    assert StripeReconcileRun.objects.count() == 1
    assert ledger_verify() == []


def test_the_task_does_a_bounded_chunk_and_queues_the_next(
    workspace, customer_for, deliver, fake_stripe, stripe_prices, settings
):
    drifted(workspace, customer_for, deliver, fake_stripe, stripe_prices)
    settings.HANDOFF_STRIPE_RECONCILE_PAGES_PER_TASK = 1

    first = stripe_reconcile_task.delay().get()  # eager: each chunk queues the next inline

    assert first == []  # the first chunk's page: the events
    run = StripeReconcileRun.objects.get()
    assert (run.open, run.pages, run.changes) == (False, 5, 1)
    assert Subscription.objects.get(workspace=workspace).seats == 9


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_webhook_applied_while_reconciliation_holds_an_older_state_is_not_lost(
    workspace, customer_for, deliver, fake_stripe, stripe_prices
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    stripe.update(seats=7)  # never delivered: reconciliation fetches it …

    def meanwhile():  # … and while Stripe's answer is on its way, 9 seats, delivered
        try:
            assert post_event(Client(), stripe.update(seats=9)).status_code == 200
        finally:
            connection.close()  # this thread's own connection

    fake_stripe.after_next_answer("/v1/subscriptions", meanwhile)

    stripe_reconcile()

    sub = Subscription.objects.get(workspace=workspace)
    assert (sub.seats, sub.mrr_cents) == (9, 10_800)
    assert sum(RevenueMovement.objects.values_list("mrr_delta_cents", flat=True)) == 10_800
    assert ledger_verify() == []
    assert reconcile() == ["nothing to repair"]
