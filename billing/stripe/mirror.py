"""Locating and writing the mirror: finding the workspace's ``Subscription`` for a Stripe
object, locking it, and applying a subscription state to it order-safely; and placing every
state an event carries in the workspace's revenue history (``revenue_state_place``), which
the revenue ledger is computed from whatever the order of delivery (``billing.ledger``).

* **Order.** ``Subscription.stripe_watermark`` is the Stripe ``created`` time of the newest
  event applied. A subscription state older than it never overwrites the mirror (the event
  is skipped with the reason). One in the same second (Stripe's clock has one-second
  resolution, so which came first is unknown) that would change the mirror raises
  ``FetchNeeded``: the subscription is fetched from Stripe and *that* state applied.
* **Partial events.** Invoice events carry no subscription state. A failed payment marks
  the subscription past due (``past_due_since`` = the event's time) without moving the
  watermark; a subscription state older than ``past_due_since`` does not clear it. Stripe
  follows every status change with a ``customer.subscription.updated`` that carries the
  whole state, so the mirror converges whatever the order of delivery.

A workspace mirrors one Stripe subscription at a time. A state of another subscription of
the same customer takes over the mirror when it is newer than the state applied, unless it
has ended while the mirrored one is live.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from accounts.locks import workspace_lock
from billing import ledger
from billing.models import (
    BillingSettings,
    Invoice,
    Plan,
    Price,
    StripeDiscount,
    StripeEvent,
    Subscription,
)
from billing.selectors import default_free_plan
from billing.signals import (
    payment_failed,
    subscription_canceled,
    subscription_resumed,
    workspace_upgraded,
)
from billing.stripe.objects import (
    StripeDataError,
    SubscriptionState,
    expanded_discounts,
    invoice_values,
)

logger = logging.getLogger(__name__)

FINAL_INVOICE_STATUSES = frozenset({"paid", "void", "uncollectible"})

MIRROR_FIELDS = [
    "stripe_subscription_id",
    "stripe_customer_id",
    "plan",
    "price",
    "seats",
    "status",
    "currency",
    "billed_mrr_cents",
    "cancel_at_period_end",
    "canceled_at",
    "trial_end",
    "current_period_start",
    "current_period_end",
    "past_due_since",
    "stripe_watermark",
    "updated_at",
]


class FetchNeeded(Exception):
    """The event cannot be applied safely from its payload: fetch the subscription from
    Stripe (outside any lock) and process the event again with that state."""

    def __init__(self, subscription_id: str, reason: str) -> None:
        super().__init__(f"{reason}: fetching {subscription_id} from Stripe")
        self.subscription_id = subscription_id
        self.reason = reason


@dataclass(frozen=True)
class Outcome:
    """What applying an event did: the event's status afterwards, and why."""

    status: str
    reason: str = ""


PROCESSED = Outcome(StripeEvent.Status.PROCESSED)


def skipped(reason: str) -> Outcome:
    return Outcome(StripeEvent.Status.SKIPPED, reason)


def mirror_target(state: SubscriptionState, free_plan: Plan) -> dict[str, Any]:
    """The mirror's fields for a started subscription state. A live subscription none of
    whose Stripe prices names a plan (a catalog price's Stripe id, or a plan's product)
    cannot be mirrored: ``StripeDataError``."""
    if state.is_live:
        if state.plan is None:
            raise StripeDataError(
                f"Stripe price {state.price_id or '(none)'} of subscription "
                f"{state.subscription_id} is not on any catalog price: paste it into the "
                "price's “Stripe price id” in the admin, then replay this event."
            )
        fields: dict[str, Any] = {
            "plan": state.plan,
            "price": state.price,
            "seats": state.seats,
            "status": state.status,
            "currency": state.currency,
            "billed_mrr_cents": state.billed_cents,
        }
    else:
        fields = {
            "plan": free_plan,
            "price": None,
            "seats": 0,
            "status": state.status,
            "billed_mrr_cents": 0,
        }
    return fields | {
        "stripe_subscription_id": state.subscription_id,
        "cancel_at_period_end": state.cancel_at_period_end,
        "canceled_at": state.canceled_at,
        "trial_end": state.trial_end,
        "current_period_start": state.current_period_start,
        "current_period_end": state.current_period_end,
    }


def mirror_differs(subscription: Subscription, target: dict[str, Any]) -> bool:
    for name, value in target.items():
        current = getattr(subscription, f"{name}_id" if name in ("plan", "price") else name)
        wanted = value.pk if isinstance(value, Plan | Price) else value
        if current != wanted:
            return True
    return False


# Finding and locking the workspace's subscription ------------------------------------------


def subscription_locate(
    *, subscription_id: str, customer_id: str, workspace_hint: int | None
) -> Subscription | None:
    """The workspace's subscription row: by Stripe subscription id, else by customer id
    (when exactly one workspace has it), else by the workspace id Handoff put in the
    metadata / ``client_reference_id``."""
    rows = Subscription.objects.only("pk", "workspace_id")
    if subscription_id:
        found = rows.filter(stripe_subscription_id=subscription_id).first()
        if found is not None:
            return found
    if customer_id:
        matches = list(rows.filter(stripe_customer_id=customer_id)[:2])
        if len(matches) == 1:
            return matches[0]
    if workspace_hint is not None:
        return rows.filter(workspace_id=workspace_hint).first()
    return None


def subscription_lock(row: Subscription) -> Subscription:
    """Lock the workspace row, then its subscription (the order every billing write takes)."""
    workspace_lock(row.workspace_id)
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "price")
        .get(pk=row.pk)
    )


# Writing the mirror ------------------------------------------------------------------------


def _paying_rank(subscription: Subscription) -> int | None:
    """The tier the workspace pays for, or None when it pays nothing."""
    if subscription.status in ledger.COUNTED_STATUSES and subscription.stripe_subscription_id:
        return subscription.plan.tier_rank
    return None


class _StateChange:
    """The locked mirror row before a change: saved afterwards, with an upgrade, a failed
    payment, a cancellation or a resumption announced. (The MRR change is the revenue
    ledger's, from the states the events carry.)"""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.before_plan = subscription.plan
        self.before_rank = _paying_rank(subscription)
        self.before_mrr = ledger.subscription_mrr(subscription)
        self.before_status = subscription.status
        self.before_paid = subscription.is_paid
        self.before_ending = subscription.cancel_at_period_end

    def save(self, *, at: datetime, event: StripeEvent | None) -> None:
        subscription = self.subscription
        subscription.save(update_fields=MIRROR_FIELDS)
        after_rank = _paying_rank(subscription)
        if after_rank is not None and (self.before_rank is None or after_rank > self.before_rank):
            arguments = {
                "workspace_id": subscription.workspace_id,
                "plan_code": subscription.plan.code,
                "mrr_delta_cents": ledger.subscription_mrr(subscription) - self.before_mrr,
                "stripe_event_id": event.stripe_id if event is not None else None,
            }
            transaction.on_commit(
                lambda: workspace_upgraded.send(sender=Subscription, **arguments), robust=True
            )
        self._announce_lifecycle(at=at, event=event)

    def _announce_lifecycle(self, *, at: datetime, event: StripeEvent | None) -> None:
        """Send ``payment_failed``, ``subscription_canceled`` or ``subscription_resumed``
        once the transaction commits, when this change is one of those moments."""
        subscription = self.subscription
        arguments = {
            "workspace_id": subscription.workspace_id,
            "plan_name": (subscription.plan if subscription.is_paid else self.before_plan).name,
            "stripe_event_id": event.stripe_id if event is not None else None,
        }
        signal = None
        past_due = Subscription.Status.PAST_DUE
        if subscription.status == past_due and self.before_status != past_due:
            signal = payment_failed
            grace_days = BillingSettings.load().grace_period_days
            arguments |= {
                "past_due_since": subscription.past_due_since,
                "grace_until": subscription.past_due_since + timedelta(days=grace_days),
            }
        elif subscription.is_paid and subscription.cancel_at_period_end and not self.before_ending:
            signal = subscription_canceled
            arguments["ends_at"] = subscription.current_period_end
        elif self.before_paid and not subscription.is_paid and not self.before_ending:
            signal = subscription_canceled  # ended at once, not at the end of the period
            arguments["ends_at"] = None
        elif self.before_ending and subscription.is_paid and not subscription.cancel_at_period_end:
            signal = subscription_resumed
        if signal is not None:
            transaction.on_commit(
                lambda: signal.send(sender=Subscription, **arguments), robust=True
            )


def discounts_remember(obj: dict[str, Any]) -> None:
    """Keep the discounts a subscription object carries expanded (a fetched one), so the
    events that name them by id can be read without fetching again."""
    for discount in expanded_discounts(obj):
        StripeDiscount.objects.update_or_create(
            stripe_id=discount["id"], defaults={"data": discount}
        )


def revenue_state_place(
    subscription: Subscription,
    state: SubscriptionState,
    *,
    at: datetime,
    event: StripeEvent | None,
    provisional: bool = False,
) -> None:
    """Place a state of a Stripe subscription of the workspace (the locked mirror row's) in
    its revenue history at ``at``, whether or not the mirror applies it: the ledger is a
    function of the history, not of the order events arrive in. A subscription whose
    first payment is pending is not revenue yet."""
    if state.status is None:
        return
    if state.unread_discounts:
        logger.warning(
            "subscription %s: discounts %s are no longer on it and were never read; "
            "counted without them",
            state.subscription_id,
            ", ".join(state.unread_discounts),
        )
    ledger.revenue_state_record(
        subscription=subscription,
        stripe_subscription_id=state.subscription_id,
        started_at=state.started_at or at,
        at=at,
        live=state.is_live,
        mrr_cents=state.mrr_cents,
        currency=state.currency,
        plan_code=state.plan.code if state.plan is not None else "",
        stripe_event=event,
        provisional=provisional,
    )


def subscription_state_apply(
    subscription: Subscription,
    state: SubscriptionState,
    *,
    at: datetime,
    event: StripeEvent | None,
    authoritative: bool,
    move_watermark: bool = True,
) -> Outcome:
    """Apply a subscription state to the locked mirror row, order-safely.

    ``at`` is when Stripe says the state held (the event's ``created``). ``authoritative``
    is True for a state fetched from Stripe just now (a same-second tie is then settled);
    reconciliation applies fetched state without moving the watermark.
    """
    watermark = subscription.stripe_watermark
    mirrored = subscription.stripe_subscription_id
    same_object = mirrored == state.subscription_id
    if watermark is not None and at < watermark:
        return skipped(
            f"older than the state applied: created {at.isoformat()}, "
            f"watermark {watermark.isoformat()}"
        )
    if not same_object and mirrored and subscription.is_paid and not state.is_live:
        return skipped(
            f"{state.subscription_id} is {state.stripe_status}; the workspace mirrors "
            f"the live subscription {mirrored}"
        )
    if not same_object and mirrored and subscription.is_paid and state.is_live:
        # A newer live subscription takes over (a replacement whose predecessor's end is
        # still on its way). If both stay live the customer pays twice: reconciliation
        # walks Stripe's subscriptions and reports it for an admin to cancel one.
        logger.warning(
            "workspace %s: live subscription %s takes over from %s",
            subscription.workspace_id,
            state.subscription_id,
            mirrored,
        )
    if state.status is None:
        if not subscription.stripe_customer_id and state.customer_id:
            subscription.stripe_customer_id = state.customer_id
            subscription.save(update_fields=["stripe_customer_id", "updated_at"])
        return skipped(
            f"{state.subscription_id} is incomplete: the workspace keeps its plan until the "
            "first payment succeeds"
        )

    target = mirror_target(state, default_free_plan())
    status = target["status"]
    if (
        same_object
        and not authoritative
        and subscription.status == Subscription.Status.PAST_DUE
        and subscription.past_due_since is not None
        and status in (Subscription.Status.ACTIVE, Subscription.Status.TRIALING)
    ):
        if subscription.past_due_since > at:  # the failed payment is newer than this state
            target["status"] = Subscription.Status.PAST_DUE
        elif subscription.past_due_since == at:
            raise FetchNeeded(state.subscription_id, "a payment failed in the same second")
    if watermark is not None and at == watermark and not authoritative:
        if not mirror_differs(subscription, target):
            return PROCESSED  # the same state again: nothing to repair
        raise FetchNeeded(state.subscription_id, "same second as the state applied")

    change = _StateChange(subscription)
    was_past_due = same_object and subscription.status == Subscription.Status.PAST_DUE
    for name, value in target.items():
        setattr(subscription, name, value)
    if state.customer_id:
        subscription.stripe_customer_id = state.customer_id
    if subscription.status != Subscription.Status.PAST_DUE:
        subscription.past_due_since = None
    elif not was_past_due or subscription.past_due_since is None:
        subscription.past_due_since = at
    if move_watermark:
        subscription.stripe_watermark = at
    change.save(at=at, event=event)
    return PROCESSED


def subscription_past_due_mark(
    subscription: Subscription, *, at: datetime, event: StripeEvent
) -> None:
    """Mark the locked mirror row past due since ``at`` (a payment failed), without moving
    the watermark: the invoice event carries no subscription state."""
    change = _StateChange(subscription)
    subscription.status = Subscription.Status.PAST_DUE
    subscription.past_due_since = at
    change.save(at=at, event=event)


def invoice_store(invoice: dict[str, Any], *, workspace_id: int) -> Invoice:
    """Store or refresh the invoice mirror. A paid, void or uncollectible invoice is final:
    an older event does not take it back to open."""
    values = invoice_values(invoice, workspace_id=workspace_id)
    stored = Invoice.objects.select_for_update().filter(stripe_id=invoice["id"]).first()
    if stored is None:
        return Invoice.objects.create(stripe_id=invoice["id"], **values)
    if stored.status in FINAL_INVOICE_STATUSES and values["status"] not in FINAL_INVOICE_STATUSES:
        return stored
    for name, value in values.items():
        setattr(stored, name, value)
    stored.save()
    return stored
