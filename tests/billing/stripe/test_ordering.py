"""Order safety: whatever order (and however many times) Stripe delivers a customer's
events, the mirror ends where in-order delivery ends and the ledger's movements by month
and kind are those of in-order delivery; a same-second tie is settled by fetching the
subscription from Stripe, and only then."""

import io
import random
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from billing.models import RevenueMovement, RevenueState, StripeEvent, Subscription
from billing.selectors import revenue_movement_totals
from tests.billing.stripe.payloads import DAY
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def mirror_state(workspace) -> dict:
    """The mirror's state, without the ids that differ between two customers."""
    sub = Subscription.objects.select_related("plan", "price").get(workspace=workspace)
    return {
        "plan": sub.plan.code,
        "price": sub.price_id,
        "seats": sub.seats,
        "status": sub.status,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": sub.canceled_at,
        "trial_end": sub.trial_end,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "past_due": sub.past_due_since is not None,
        "mrr_cents": sub.mrr_cents,
        "currency": sub.currency,
        "movements_sum": sum(
            RevenueMovement.objects.filter(workspace=workspace).values_list(
                "mrr_delta_cents", flat=True
            )
        ),
    }


def month_kind_totals(workspace) -> dict[tuple[str, str, str], int]:
    """{(currency, "YYYY-MM", kind): cents} of the workspace's movements."""
    totals = revenue_movement_totals(workspace_ids=[workspace.pk])
    return {(c, f"{m:%Y-%m}", k): total for (_, c, m, k), total in totals.items()}


def ledger_by_kind(workspace, *, at: datetime) -> dict[str, int]:
    """The workspace's movements at one moment, summed by kind (sums of 0 left out)."""
    sums: dict[str, int] = defaultdict(int)
    for kind, delta in RevenueMovement.objects.filter(
        workspace=workspace, occurred_at=at
    ).values_list("kind", "mrr_delta_cents"):
        sums[kind] += delta
    return {kind: total for kind, total in sums.items() if total}


def life_that_comes_back(stripe) -> None:
    stripe.subscribe("pro", 5)
    stripe.update(seats=8)
    stripe.update(price="business")
    stripe.payment_fails()
    stripe.payment_recovers()
    stripe.update(cancel_at_period_end=True)
    stripe.update(cancel_at_period_end=False)
    stripe.cancel()
    stripe.subscribe("pro", 3)


def life_that_ends_past_due(stripe) -> None:
    stripe.subscribe("business", 2, trial_days=14)
    stripe.trial_will_end()
    stripe.update(status="active")
    stripe.update(seats=4)
    stripe.update(seats=3, same_second=True)
    stripe.payment_fails()


def life_that_churns(stripe) -> None:
    stripe.subscribe("pro_yearly", 10)
    stripe.update(seats=12)
    stripe.update(price="business_yearly")
    stripe.update(seats=11)
    stripe.cancel()


@pytest.mark.parametrize("life", [life_that_comes_back, life_that_ends_past_due, life_that_churns])
@pytest.mark.parametrize("seed", range(6))
def test_shuffled_and_duplicated_delivery_ends_in_the_in_order_state(
    customer_for, deliver, life, seed
):
    rng = random.Random(seed)
    in_order_ws = WorkspaceFactory(created_by=UserFactory())
    shuffled_ws = WorkspaceFactory(created_by=UserFactory())
    in_order, shuffled = customer_for(in_order_ws), customer_for(shuffled_ws)
    life(in_order)
    life(shuffled)
    deliveries = list(shuffled.events)
    deliveries += rng.sample(deliveries, k=round(0.3 * len(deliveries)))  # 30% twice
    rng.shuffle(deliveries)

    deliver(*in_order.events)
    deliver(*deliveries)

    assert mirror_state(shuffled_ws) == mirror_state(in_order_ws)
    assert month_kind_totals(shuffled_ws) == month_kind_totals(in_order_ws)
    shuffled_ids = {evt["id"] for evt in shuffled.events}
    assert StripeEvent.objects.filter(stripe_id__in=shuffled_ids).count() == len(shuffled_ids)
    assert not StripeEvent.objects.exclude(status__in=["processed", "skipped"]).exists()


def test_in_order_delivery_calls_stripe_only_to_learn_a_recovered_status(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)

    deliver(*stripe.subscribe("pro", 5))
    deliver(stripe.update(seats=8))
    deliver(stripe.update(price="business"))
    deliver(*stripe.payment_fails())
    deliver(*stripe.payment_recovers())
    deliver(stripe.update(cancel_at_period_end=True))
    deliver(stripe.cancel())
    deliver(*stripe.subscribe("pro", 3))

    # One fetch: the paid invoice of the past-due subscription (its status comes from
    # Stripe); every other event applied from its own payload.
    assert [r.path for r in fake_stripe.requests] == [
        f"/v1/subscriptions/{stripe.events[0]['data']['object']['id']}"
    ]


def test_a_same_second_tie_is_settled_by_the_state_fetched_from_stripe(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    first = stripe.update(seats=8)
    second = stripe.update(seats=6, same_second=True)  # Stripe's state now: 6 seats

    deliver(second, first)  # the same second: which one is newer is unknown

    sub = Subscription.objects.get(workspace=workspace)
    assert sub.seats == 6
    assert len(fake_stripe.requests_to(f"/v1/subscriptions/{stripe.subscription['id']}")) == 1
    assert StripeEvent.objects.get(stripe_id=first["id"]).status == "processed"
    # The ledger places both states in that second, in a fixed order (their ids): 8 seats,
    # then 6, whichever arrived first.
    at = datetime.fromtimestamp(first["created"], tz=UTC)
    assert ledger_by_kind(workspace, at=at) == {"expansion": 3600, "contraction": -2400}
    assert sub.mrr_cents == 7200


def test_a_same_second_event_with_the_same_state_needs_no_fetch(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    seats = stripe.update(seats=8)
    again = stripe.update(same_second=True)  # another update in that second, same state

    deliver(seats, again)

    assert fake_stripe.requests == []
    assert StripeEvent.objects.get(stripe_id=again["id"]).status == "processed"
    assert Subscription.objects.get(workspace=workspace).seats == 8


def test_events_of_an_ended_subscription_arriving_after_the_new_one_are_skipped(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5))
    late_update = stripe.update(seats=6)
    deleted = stripe.cancel()
    comeback = stripe.subscribe("business", 2)

    deliver(*comeback, late_update, deleted)

    sub = Subscription.objects.select_related("plan").get(workspace=workspace)
    assert (sub.stripe_subscription_id, sub.plan.code, sub.seats) == (
        stripe.subscription["id"],
        "business",
        2,
    )
    assert StripeEvent.objects.get(stripe_id=deleted["id"]).status == "skipped"


def life_across_five_months(stripe) -> None:
    """Subscribe, expand, contract, cancel and reactivate, a month apart (Pro: $12 a seat)."""
    stripe.subscribe("pro", 5)  # September: new 6 000
    stripe.tick(30 * DAY)
    stripe.update(seats=9)  # October: expansion 4 800
    stripe.tick(30 * DAY)
    stripe.update(seats=4)  # November: contraction -6 000
    stripe.tick(30 * DAY)
    stripe.cancel()  # December: churn -4 800
    stripe.tick(30 * DAY)
    stripe.subscribe("business", 2)  # January: reactivation 4 800 ($24 a seat)


HAND_COMPUTED = {
    ("usd", "2026-09", "new"): 6000,
    ("usd", "2026-10", "expansion"): 4800,
    ("usd", "2026-11", "contraction"): -6000,
    ("usd", "2026-12", "churn"): -4800,
    ("usd", "2027-01", "reactivation"): 4800,
}


@pytest.mark.parametrize("seed", range(8))
def test_a_shuffled_lifecycle_gives_the_in_order_movements_by_month_and_kind(
    customer_for, deliver, seed
):
    in_order_ws = WorkspaceFactory(created_by=UserFactory())
    shuffled_ws = WorkspaceFactory(created_by=UserFactory())
    in_order, shuffled = customer_for(in_order_ws), customer_for(shuffled_ws)
    life_across_five_months(in_order)
    life_across_five_months(shuffled)
    deliveries = list(shuffled.events)
    random.Random(seed).shuffle(deliveries)

    deliver(*in_order.events)
    deliver(*deliveries)

    assert month_kind_totals(in_order_ws) == HAND_COMPUTED
    assert month_kind_totals(shuffled_ws) == HAND_COMPUTED
    assert Subscription.objects.get(workspace=shuffled_ws).mrr_cents == 4800


def test_a_late_event_appends_corrections_linked_to_what_they_correct(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    subscribed = stripe.subscribe("pro", 5)
    stripe.tick(30 * DAY)
    grown = stripe.update(seats=9)  # +4 800, expansion
    stripe.tick(30 * DAY)
    shrunk = stripe.update(seats=4)  # -6 000, contraction
    deliver(*subscribed)
    deliver(shrunk)  # 5 → 4 seats: a contraction of 1 200, as far as the ledger knows
    first = list(RevenueMovement.objects.filter(workspace=workspace).order_by("id"))

    deliver(grown)  # late: 5 → 9 in October, so November was 9 → 4

    movements = list(RevenueMovement.objects.filter(workspace=workspace).order_by("id"))
    assert movements[: len(first)] == first  # nothing recorded changed
    late = movements[len(first) :]
    assert [(m.kind, m.mrr_delta_cents, m.corrects_id) for m in late] == [
        ("expansion", 4800, None),  # the late event's own movement, in October
        ("contraction", -4800, first[-1].pk),  # November's contraction, corrected
    ]
    assert late[0].stripe_event.stripe_id == grown["id"]
    assert late[1].occurred_at == datetime.fromtimestamp(shrunk["created"], tz=UTC)
    assert month_kind_totals(workspace) == {
        ("usd", "2026-09", "new"): 6000,
        ("usd", "2026-10", "expansion"): 4800,
        ("usd", "2026-11", "contraction"): -6000,
    }


def test_ledger_verify_finds_no_difference_after_shuffled_delivery_and_reports_tampering(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    life_across_five_months(stripe)
    deliveries = list(stripe.events)
    random.Random(3).shuffle(deliveries)
    deliver(*deliveries)
    out = io.StringIO()

    call_command("ledger_verify", stdout=out)

    assert out.getvalue().strip() == "the revenue ledger agrees with its history"
    state = RevenueState.objects.filter(workspace=workspace, live=True, provisional=False).first()
    RevenueState.objects.filter(pk=state.pk).update(mrr_cents=state.mrr_cents + 100)
    with pytest.raises(CommandError, match="differences in the revenue ledger"):
        call_command("ledger_verify", stdout=(out := io.StringIO()))
    assert f"the ledger holds {state.mrr_cents + 100}" in out.getvalue()
    RevenueState.objects.filter(pk=state.pk).update(mrr_cents=state.mrr_cents)  # invariant
