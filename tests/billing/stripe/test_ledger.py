"""The revenue ledger: MRR in integer cents, one append-only movement per change, and the
selectors the metrics read. (The invariant — movements sum to ``mrr_cents`` and to the
mirror's worth, for every workspace — is checked after every test here by
tests/billing/conftest.py.)"""

from datetime import UTC, datetime, timedelta

import pytest

from billing import selectors
from billing.ledger import mrr_of, revenue_movement_record
from billing.models import Price, RevenueMovement, Subscription
from tests.factories import UserFactory, WorkspaceFactory


def price(amount: int, *, interval: str = "month", scheme: str = "per_seat") -> Price:
    return Price(amount_cents=amount, interval=interval, scheme=scheme, currency="usd")


@pytest.mark.parametrize(
    ("status", "the_price", "seats", "mrr"),
    [
        ("active", price(1200), 5, 6000),
        ("past_due", price(1200), 5, 6000),
        ("trialing", price(1200), 5, 0),
        ("canceled", price(1200), 5, 0),
        ("active", None, 5, 0),
        ("active", price(49_900, scheme="flat"), 30, 49_900),
        ("active", price(12_000, interval="year"), 3, 3000),
        # A twelfth of a yearly amount, to the nearest cent, halves up.
        ("active", price(1001, interval="year"), 1, 83),  # 83.42
        ("active", price(1002, interval="year"), 1, 84),  # 83.50
        ("active", price(1005, interval="year"), 1, 84),  # 83.75
        ("active", price(999, interval="year", scheme="flat"), 7, 83),  # 83.25
    ],
)
def test_mrr_of_a_subscription_state_in_integer_cents(status, the_price, seats, mrr):
    result = mrr_of(status=status, price=the_price, seats=seats)

    assert result == mrr
    assert isinstance(result, int)


@pytest.mark.django_db
def test_an_unchanged_mrr_records_no_movement(workspace):
    subscription = Subscription.objects.get(workspace=workspace)

    movement = revenue_movement_record(
        subscription=subscription, new_mrr=0, occurred_at=datetime.now(UTC), stripe_event=None
    )

    assert movement is None
    assert not RevenueMovement.objects.exists()


@pytest.mark.django_db
def test_subscribe_grow_upgrade_fail_recover_cancel_and_come_back_movement_by_movement(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    subscribed = stripe.subscribe("pro", 5)
    deliver(*subscribed)
    more_seats = stripe.update(seats=8)
    deliver(more_seats)
    upgraded = stripe.update(price="business")
    deliver(upgraded)
    deliver(*stripe.payment_fails())
    deliver(*stripe.payment_recovers())
    canceled = stripe.cancel()
    deliver(canceled)
    back = stripe.subscribe("pro", 5)
    deliver(*back)

    ledger = [
        (m.kind, m.mrr_delta_cents, m.mrr_after_cents, m.plan_code, m.stripe_event.stripe_id)
        for m in RevenueMovement.objects.filter(workspace=workspace).select_related("stripe_event")
    ]
    assert ledger == [
        ("new", 6000, 6000, "pro", subscribed[0]["id"]),  # 5 seats at $12
        ("expansion", 3600, 9600, "pro", more_seats["id"]),  # 8 seats at $12
        ("expansion", 9600, 19200, "business", upgraded["id"]),  # 8 seats at $24
        # the failed and recovered payment move no revenue: past due still counts
        ("churn", -19200, 0, "business", canceled["id"]),
        ("reactivation", 6000, 6000, "pro", back[0]["id"]),
    ]
    occurred = list(
        RevenueMovement.objects.filter(workspace=workspace).values_list("occurred_at", flat=True)
    )
    expected = [subscribed[0], more_seats, upgraded, canceled, back[0]]
    assert occurred == [datetime.fromtimestamp(e["created"], tz=UTC) for e in expected]
    subscription = Subscription.objects.get(workspace=workspace)
    assert subscription.mrr_cents == 6000
    assert subscription.stripe_subscription_id == back[0]["data"]["object"]["id"]


@pytest.mark.django_db
def test_movements_cannot_be_changed_or_deleted(workspace, customer_for, deliver):
    deliver(*customer_for(workspace).subscribe("pro", 5))
    movement = RevenueMovement.objects.get()

    movement.mrr_delta_cents = 1
    with pytest.raises(ValueError, match="append-only"):
        movement.save()
    with pytest.raises(ValueError, match="append-only"):
        movement.delete()


@pytest.mark.django_db
def test_selectors_read_mrr_now_as_of_a_date_and_by_kind(customer_for, deliver):
    north = WorkspaceFactory(created_by=UserFactory())
    south = WorkspaceFactory(created_by=UserFactory())
    a, b = customer_for(north), customer_for(south)
    deliver(*a.subscribe("pro", 5))  # +6000
    deliver(*b.subscribe("business", 1))  # +2400
    before_growth = datetime.fromtimestamp(a.clock, tz=UTC)
    a.tick(3600)
    deliver(a.update(seats=10))  # +6000
    b.tick(7200)
    deliver(b.cancel())  # -2400
    end = datetime.fromtimestamp(max(a.clock, b.clock), tz=UTC) + timedelta(seconds=1)

    assert selectors.workspace_mrr(workspace_id=north.pk) == 12_000
    assert selectors.workspace_mrr(workspace_id=south.pk) == 0
    assert selectors.mrr_total() == 12_000
    assert selectors.mrr_total(as_of=before_growth) == 8_400
    assert selectors.mrr_total(currency="eur") == 0
    after_start = before_growth + timedelta(seconds=1)
    by_kind = selectors.revenue_movements_by_kind(start=after_start, end=end)
    assert by_kind == {
        "new": {"count": 0, "mrr_delta_cents": 0},
        "expansion": {"count": 1, "mrr_delta_cents": 6000},
        "contraction": {"count": 0, "mrr_delta_cents": 0},
        "churn": {"count": 1, "mrr_delta_cents": -2400},
        "reactivation": {"count": 0, "mrr_delta_cents": 0},
    }
    assert [m.kind for m in selectors.workspace_revenue_movements(workspace_id=north.pk)] == [
        "new",
        "expansion",
    ]
