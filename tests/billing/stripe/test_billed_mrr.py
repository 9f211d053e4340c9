"""MRR is what Stripe bills, read from the subscription object itself: every item's amount
times its quantity, normalised to a month, net of the discounts while they apply; the
catalog only names the plan. Events are built from Stripe's published objects and posted
signed to the real webhook endpoint."""

from datetime import UTC, datetime

import pytest

from billing.models import RevenueMovement, Subscription
from tests.billing.stripe.payloads import DAY

pytestmark = pytest.mark.django_db


def mirror(workspace) -> Subscription:
    return Subscription.objects.select_related("plan").get(workspace=workspace)


def ledger(workspace) -> list[tuple[str, int, str]]:
    return list(
        RevenueMovement.objects.filter(workspace=workspace)
        .order_by("id")
        .values_list("kind", "mrr_delta_cents", "plan_code")
    )


def test_a_price_negotiated_below_the_catalog_counts_what_stripe_bills(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    stripe.price_fields["pro"] = {"unit_amount": 900, "unit_amount_decimal": "900"}

    deliver(*stripe.subscribe("pro", 5))  # the catalog says $12 a seat; Stripe bills $9

    sub = mirror(workspace)
    assert (sub.plan.code, sub.seats, sub.mrr_cents) == ("pro", 5, 4500)
    assert ledger(workspace) == [("new", 4500, "pro")]


def test_every_item_counts_and_an_add_on_unknown_to_the_catalog_changes_only_the_money(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    stripe.prices["storage"] = ("price_addon_storage_unknown", 500)
    deliver(*stripe.subscribe("pro", 5))  # 5 x $12

    deliver(stripe.update(add_item=("storage", 3)))  # + 3 x $5, a price no plan carries

    sub = mirror(workspace)
    assert (sub.plan.code, sub.seats, sub.mrr_cents) == ("pro", 5, 7500)
    assert ledger(workspace) == [("new", 6000, "pro"), ("expansion", 1500, "pro")]


def test_an_unknown_price_on_a_plans_product_names_the_plan_but_not_the_money(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    stripe.prices["deal"] = ("price_sales_deal_unknown", 1800)
    stripe.price_fields["deal"] = {"product": "handoff_business"}

    deliver(*stripe.subscribe("deal", 10))  # business's product, at $18 a seat

    sub = mirror(workspace)
    assert (sub.plan.code, sub.price_id, sub.seats, sub.mrr_cents) == ("business", None, 10, 18_000)


def test_a_yearly_price_with_a_forever_coupon_counts_a_twelfth_net_of_the_discount(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)

    # 3 x $240 a year = $60 a month, 25.5% off for good (the example coupon's percentage)
    deliver(
        *stripe.subscribe("business_yearly", 3, coupon={"duration": "forever", "percent_off": 25.5})
    )

    assert mirror(workspace).mrr_cents == 4470
    assert ledger(workspace) == [("new", 4470, "business")]


def test_a_repeating_coupon_lowers_mrr_until_it_ends_then_the_full_price_is_expansion(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    coupon = {"duration": "repeating", "amount_off": 2000, "duration_in_months": 3}
    deliver(*stripe.subscribe("pro", 5, coupon=coupon))  # $60 less $20 while it lasts
    stripe.tick(40 * DAY)
    deliver(stripe.update(seats=6))  # still discounted: $72 - $20
    stripe.tick(60 * DAY)  # past the discount's end (90 days)

    deliver(stripe.update(discounts=[]))  # Stripe drops the ended discount

    assert ledger(workspace) == [
        ("new", 4000, "pro"),
        ("expansion", 1200, "pro"),
        ("expansion", 2000, "pro"),
    ]
    assert mirror(workspace).mrr_cents == 7200


def test_a_repeating_coupon_counts_only_while_it_applies_even_if_still_listed(
    workspace, customer_for, deliver
):
    stripe = customer_for(workspace)
    coupon = {"duration": "repeating", "percent_off": 50, "duration_in_months": 1}
    deliver(*stripe.subscribe("pro", 5, coupon=coupon))
    stripe.tick(45 * DAY)  # the discount ended 15 days ago

    deliver(stripe.update(seats=5, cancel_at_period_end=False))

    assert ledger(workspace) == [("new", 3000, "pro"), ("expansion", 3000, "pro")]


def test_a_once_coupon_discounts_its_first_billing_period_only(workspace, customer_for, deliver):
    stripe = customer_for(workspace)
    deliver(*stripe.subscribe("pro", 5, coupon={"duration": "once", "percent_off": 100}))
    stripe.tick(31 * DAY)
    item = stripe.subscription["items"]["data"][0]
    item["current_period_start"] = stripe.clock  # renewed: the next billing period
    item["current_period_end"] = stripe.clock + 30 * DAY

    deliver(stripe.update(seats=5))

    assert ledger(workspace) == [("new", 6000, "pro")]  # a free first month is not revenue
    movement = RevenueMovement.objects.get()
    assert movement.occurred_at == datetime.fromtimestamp(stripe.clock, tz=UTC)


# A subscription replaced by a newer one ---------------------------------------------------


def test_a_newer_subscription_replacing_a_live_one_is_one_plan_change_naming_both(
    workspace, customer_for, deliver
):
    old = customer_for(workspace)
    deliver(*old.subscribe("pro", 5))  # $60
    new = customer_for(workspace, clock=old.clock + 60)
    new.customer_id = old.customer_id

    deliver(*new.subscribe("business", 2))  # $48, while the old one is still live
    old.tick(120)
    deliver(old.cancel())  # the old one ends afterwards: no more movement

    movements = list(RevenueMovement.objects.filter(workspace=workspace).order_by("id"))
    assert [(m.kind, m.mrr_delta_cents, m.plan_code) for m in movements] == [
        ("new", 6000, "pro"),
        ("contraction", -1200, "business"),
    ]
    replaced = movements[1]
    assert replaced.stripe_subscription_id == new.subscription["id"]
    assert (
        replaced.note == f"{new.subscription['id']} replaced {old.subscription['id']} (still live)"
    )
    assert mirror(workspace).stripe_subscription_id == new.subscription["id"]


def test_a_replacement_reads_the_same_whatever_order_the_old_ones_events_arrive_in(
    workspace, customer_for, deliver
):
    old = customer_for(workspace)
    subscribed = old.subscribe("pro", 5)
    grown = old.update(seats=6)
    new = customer_for(workspace, clock=old.clock + 60)
    new.customer_id = old.customer_id
    replaced = new.subscribe("business", 2)
    old.tick(120)
    ended = old.cancel()

    deliver(*subscribed, *replaced, ended, grown)  # the old one's seat change comes last

    assert ledger(workspace) == [
        ("new", 6000, "pro"),
        ("contraction", -1200, "business"),  # 5 pro seats → 2 business, as far as known
        ("expansion", 1200, "pro"),  # the late 6th seat, at its own time
        ("contraction", -1200, "business"),  # … so the replacement was 7 200 → 4 800
    ]
    assert mirror(workspace).mrr_cents == 4800


def test_a_replacement_in_another_currency_is_churn_and_reactivation_never_a_sum(
    workspace, customer_for, deliver
):
    old = customer_for(workspace)
    deliver(*old.subscribe("pro", 5))
    new = customer_for(workspace, clock=old.clock + 60)
    new.customer_id = old.customer_id
    new.prices["pro_eur"] = ("price_pro_eur_unknown", 1100)
    new.price_fields["pro_eur"] = {"currency": "eur", "product": "handoff_pro"}

    deliver(*new.subscribe("pro_eur", 5))

    assert list(
        RevenueMovement.objects.filter(workspace=workspace)
        .order_by("id")
        .values_list("kind", "mrr_delta_cents", "currency")
    ) == [("new", 6000, "usd"), ("churn", -6000, "usd"), ("reactivation", 5500, "eur")]
    assert (mirror(workspace).currency, mirror(workspace).mrr_cents) == ("eur", 5500)


def test_discounts_events_name_by_id_are_read_from_one_fetch_of_the_subscription(
    workspace, customer_for, deliver, fake_stripe
):
    stripe = customer_for(workspace)
    subscribed = stripe.subscribe("pro", 5, coupon={"duration": "forever", "percent_off": 20})
    assert isinstance(subscribed[0]["data"]["object"]["discounts"][0], str)  # as Stripe sends

    deliver(*subscribed)
    deliver(stripe.update(seats=10))

    assert ledger(workspace) == [("new", 4800, "pro"), ("expansion", 4800, "pro")]
    # One fetch (its discounts expanded) for the discount the first event named; the
    # next event's is known by then.
    fetches = fake_stripe.requests_to(f"/v1/subscriptions/{stripe.subscription['id']}")
    assert len(fetches) == 1
    assert fetches[0].query["expand"] == ["discounts.source.coupon"]
