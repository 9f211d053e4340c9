"""The revenue ledger: what a subscription is worth per month, and one append-only
RevenueMovement for every change of it.

MRR is integer minor units of the subscription's currency:

* ``active`` and ``past_due`` subscriptions count (a failed payment is not churn until Stripe
  gives up and ends the subscription); ``trialing`` and ``canceled`` count 0;
* a per-seat price counts ``amount * seats``, a flat price ``amount * 1``;
* a yearly price counts a twelfth of its yearly amount, rounded to the nearest minor unit
  with halves rounded up (``(yearly + 6) // 12``). The ledger records the rounded figure, so
  the invariant "sum of a workspace's movements == its ``mrr_cents``" stays exact; twelve
  months of the rounded figure differ from the yearly amount by at most 6 minor units.

For every workspace, the sum of its movements equals ``Subscription.mrr_cents``.
"""

from datetime import datetime

from django.db import transaction

from billing.models import Price, RevenueMovement, StripeEvent, Subscription

COUNTED_STATUSES = frozenset({Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE})
MONTHS_PER_YEAR = 12


def mrr_of(*, status: str, price: Price | None, seats: int) -> int:
    """Monthly recurring revenue of a subscription state, in integer minor units."""
    if status not in COUNTED_STATUSES or price is None:
        return 0
    amount = price.amount_for(seats)
    if price.interval == Price.Interval.YEAR:
        return (amount + MONTHS_PER_YEAR // 2) // MONTHS_PER_YEAR
    return amount


def subscription_mrr(subscription: Subscription) -> int:
    """What the mirror's current state is worth per month."""
    return mrr_of(status=subscription.status, price=subscription.price, seats=subscription.seats)


def movement_kind(*, old_mrr: int, new_mrr: int, had_revenue_before: bool) -> str:
    """New (from 0, the first time), reactivation (from 0 again), expansion, contraction or
    churn (to 0)."""
    if old_mrr == 0:
        return RevenueMovement.Kind.REACTIVATION if had_revenue_before else RevenueMovement.Kind.NEW
    if new_mrr == 0:
        return RevenueMovement.Kind.CHURN
    return RevenueMovement.Kind.EXPANSION if new_mrr > old_mrr else RevenueMovement.Kind.CONTRACTION


@transaction.atomic
def revenue_movement_record(
    *,
    subscription: Subscription,
    new_mrr: int,
    occurred_at: datetime,
    stripe_event: StripeEvent | None,
    plan_code: str | None = None,
) -> RevenueMovement | None:
    """Record the change of ``subscription``'s MRR to ``new_mrr`` as one movement and update
    ``Subscription.mrr_cents``; nothing when the MRR does not change.

    The caller holds the subscription row locked (``select_for_update``) and has already set
    the subscription's new plan, price and currency. ``stripe_event`` is the event that caused
    the change (one movement per event at most: the database enforces it), or None when
    reconciliation repairs drift. ``occurred_at`` is when Stripe says it happened.
    ``plan_code`` names the plan the revenue is (or, on churn, was) for; by default the
    subscription's plan.
    """
    if new_mrr < 0:
        raise ValueError("MRR cannot be negative.")
    old_mrr = subscription.mrr_cents
    if new_mrr == old_mrr:
        return None
    had_revenue_before = (
        old_mrr > 0
        or RevenueMovement.objects.filter(workspace_id=subscription.workspace_id).exists()
    )
    movement = RevenueMovement.objects.create(
        workspace_id=subscription.workspace_id,
        subscription=subscription,
        kind=movement_kind(old_mrr=old_mrr, new_mrr=new_mrr, had_revenue_before=had_revenue_before),
        mrr_delta_cents=new_mrr - old_mrr,
        mrr_after_cents=new_mrr,
        currency=subscription.currency,
        occurred_at=occurred_at,
        stripe_event=stripe_event,
        plan_code=subscription.plan.code if plan_code is None else plan_code,
    )
    subscription.mrr_cents = new_mrr
    subscription.save(update_fields=["mrr_cents", "updated_at"])
    return movement
