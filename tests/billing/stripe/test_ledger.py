"""The revenue ledger: MRR in integer cents, one append-only movement per change, and the
selectors the metrics read. (The invariant — movements sum to ``mrr_cents`` and to the
mirror's worth, for every workspace — is checked after every test here by
tests/billing/conftest.py.)"""

from datetime import UTC, datetime, timedelta

import pytest

from billing import selectors
from billing.models import RevenueMovement, Subscription
from billing.stripe.objects import billed_mrr
from tests.billing.stripe.payloads import set_price, subscription
from tests.factories import UserFactory, WorkspaceFactory

NOW = datetime(2026, 10, 1, tzinfo=UTC)


def billed(*, amount: int, quantity: int = 1, interval: str = "month", **price_fields) -> int:
    obj = subscription(
        subscription_id="sub_T1", customer_id="cus_T1", price_id="price_T1", quantity=quantity
    )
    set_price(
        obj["items"]["data"][0],
        price_id="price_T1",
        unit_amount=amount,
        interval=interval,
        **price_fields,
    )
    return billed_mrr(obj, at=NOW)[0]


@pytest.mark.parametrize(
    ("amount", "quantity", "interval", "mrr"),
    [
        (1200, 5, "month", 6000),
        (49_900, 1, "month", 49_900),
        (12_000, 3, "year", 3000),
        # A twelfth of a yearly amount, to the nearest cent, halves up.
        (1001, 1, "year", 83),  # 83.42
        (1002, 1, "year", 84),  # 83.50
        (1005, 1, "year", 84),  # 83.75
        (999, 1, "year", 83),  # 83.25
        (1000, 3, "week", 13_000),  # 3 000 a week is 52/12 of it a month
    ],
)
def test_what_a_subscription_bills_per_month_in_integer_cents(amount, quantity, interval, mrr):
    result = billed(amount=amount, quantity=quantity, interval=interval)

    assert result == mrr
    assert isinstance(result, int)


def test_an_interval_count_divides_the_amount_over_its_months():
    recurring = {"interval": "month", "interval_count": 3, "usage_type": "licensed"}

    assert billed(amount=9000, quantity=2, recurring=recurring) == 6000  # 18 000 a quarter


def test_a_metered_item_counts_nothing_since_the_subscription_does_not_say_the_usage():
    recurring = {"interval": "month", "interval_count": 1, "usage_type": "metered"}

    assert billed(amount=5, quantity=0, recurring=recurring) == 0


@pytest.mark.parametrize(
    ("mode", "quantity", "mrr"),
    [
        # up to 5 at $10, 6-10 at $8, more at $5 plus a $20 flat fee on the last tier
        ("graduated", 3, 3000),
        ("graduated", 8, 5000 + 2400),
        ("graduated", 12, 5000 + 4000 + 1000 + 2000),
        ("volume", 3, 3000),
        ("volume", 8, 6400),
        ("volume", 12, 6000 + 2000),
    ],
)
def test_a_tiered_price_bills_its_tiers(mode, quantity, mrr):
    tiers = [
        {"up_to": 5, "unit_amount": 1000, "unit_amount_decimal": "1000", "flat_amount": None},
        {"up_to": 10, "unit_amount": 800, "unit_amount_decimal": "800", "flat_amount": None},
        {"up_to": None, "unit_amount": 500, "unit_amount_decimal": "500", "flat_amount": 2000},
    ]

    result = billed(
        amount=0, quantity=quantity, billing_scheme="tiered", tiers_mode=mode, tiers=tiers
    )

    assert result == mrr


def test_a_transformed_quantity_bills_per_package():
    transform = {"divide_by": 10, "round": "up"}

    assert billed(amount=2500, quantity=21, transform_quantity=transform) == 7500


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
