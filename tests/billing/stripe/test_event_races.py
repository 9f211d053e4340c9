"""Two different Stripe events for one subscription arriving at the same moment, each
delivered by its own request and processed by its own worker (real threads, each with its
own PostgreSQL connection): the mirror and the ledger end exactly as when the same events
are processed one after the other."""

import threading
from collections import defaultdict

import pytest
from django.db import connection
from django.test import Client

from billing.models import RevenueMovement, StripeEvent, Subscription
from billing.stripe.verify import ledger_verify
from tests.billing.stripe.payloads import post_event
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROUNDS = 3


def two_seat_changes(stripe):
    return [stripe.update(seats=7), stripe.update(seats=9)]


def payment_fails(stripe):
    return stripe.payment_fails()  # the invoice and past due, in the same second


def seats_then_cancel(stripe):
    return [stripe.update(seats=2), stripe.cancel()]


def plan_change_and_cancel_at_period_end(stripe):
    return [stripe.update(price="business"), stripe.update(cancel_at_period_end=True)]


def at_once(events) -> None:
    """Each event POSTed by its own thread, released together."""
    barrier = threading.Barrier(len(events))
    answers: list[int] = []

    def deliver(evt) -> None:
        try:
            barrier.wait()
            answers.append(post_event(Client(), evt).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(evt,)) for evt in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == [200] * len(events)


def outcome(workspace) -> tuple:
    """The mirror's state and the ledger's movements by moment and kind."""
    sub = Subscription.objects.select_related("plan").get(workspace=workspace)
    ledger: dict[tuple, int] = defaultdict(int)
    for at, kind, currency, delta in RevenueMovement.objects.filter(
        workspace=workspace
    ).values_list("occurred_at", "kind", "currency", "mrr_delta_cents"):
        ledger[(at, kind, currency)] += delta
    mirror = (
        sub.plan.code,
        sub.seats,
        sub.status,
        sub.cancel_at_period_end,
        sub.mrr_cents,
        sub.stripe_watermark,
        sub.past_due_since,
    )
    return mirror, {key: value for key, value in ledger.items() if value}


@pytest.mark.parametrize(
    "changes",
    [two_seat_changes, payment_fails, seats_then_cancel, plan_change_and_cancel_at_period_end],
)
def test_two_events_of_one_subscription_processed_at_once_end_as_in_order(customer_for, changes):
    def customer(name):
        workspace = WorkspaceFactory(name=name, created_by=UserFactory(email=f"{name}@x.io"))
        stripe = customer_for(workspace, name=name)
        for evt in stripe.subscribe("pro", 5):
            assert post_event(Client(), evt).status_code == 200
        return workspace, stripe

    reference, stripe = customer("inorder")
    for evt in changes(stripe):
        assert post_event(Client(), evt).status_code == 200
    expected = outcome(reference)
    assert expected[1]  # the scenario moved revenue

    for round_ in range(ROUNDS):
        workspace, stripe = customer(f"race{round_}")
        at_once(changes(stripe))

        assert outcome(workspace) == expected
        assert not StripeEvent.objects.exclude(status__in=["processed", "skipped"]).exists()
    assert ledger_verify() == []
