"""What each Stripe event does to the mirror: one handler per event type (``HANDLERS``).

A handler gets the stored event in a ``Context`` (run inside the transaction that holds the
event's row lock) and returns its ``Outcome``. Stripe is never called here: when the
payload alone cannot be applied safely (the workspace of a subscription is unknown, a
checkout completed before the subscription's own events arrived, a past-due subscription's
invoice was paid, a same-second tie) the handler raises ``FetchNeeded``; processing rolls
back, fetches the subscription and runs the handler again with it in ``Context.fetched``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from billing.models import StripeEvent, Subscription
from billing.signals import trial_ending
from billing.stripe.mirror import (
    PROCESSED,
    FetchNeeded,
    Outcome,
    discounts_remember,
    invoice_store,
    revenue_state_place,
    skipped,
    subscription_locate,
    subscription_lock,
    subscription_past_due_mark,
    subscription_state_apply,
)
from billing.stripe.objects import (
    SubscriptionState,
    checkout_workspace_hint,
    id_from,
    invoice_subscription_id,
    invoice_workspace_hint,
    subscription_state,
)
from usage.services import product_event_record


@dataclass(frozen=True)
class Context:
    """One event being processed: the stored event, Stripe's time of it, its object, and
    the subscription fetched from Stripe when a gap made that necessary."""

    event: StripeEvent
    at: datetime
    obj: dict[str, Any]
    fetched: dict[str, Any] | None

    def fetched_for(self, subscription_id: str) -> dict[str, Any] | None:
        if self.fetched is not None and self.fetched.get("id") == subscription_id:
            return self.fetched
        return None


def _apply_from_event(
    ctx: Context, state_obj: dict[str, Any], *, hint: int | None = None
) -> tuple[Subscription | None, SubscriptionState | None, Outcome]:
    """Find the workspace of a subscription object and apply it. A subscription no
    workspace claims is fetched from Stripe once (its metadata may name the workspace)."""
    fetched = ctx.fetched_for(state_obj["id"])
    discounts_remember(fetched or state_obj)
    state = subscription_state(fetched or state_obj, at=ctx.at)
    if state_obj is ctx.obj:
        own = state if fetched is None else subscription_state(state_obj, at=ctx.at)
        if own.unread_discounts and fetched is None:
            raise FetchNeeded(state.subscription_id, "discounts the event names only by id")
    row = subscription_locate(
        subscription_id=state.subscription_id,
        customer_id=state.customer_id,
        workspace_hint=state.workspace_hint or hint,
    )
    if row is None:
        if fetched is None:
            raise FetchNeeded(state.subscription_id, "no workspace is linked to it yet")
        return None, state, skipped(f"no workspace claims subscription {state.subscription_id}")
    subscription = subscription_lock(row)
    if state_obj is ctx.obj:  # the event's own state, placed at its time in the history
        revenue_state_place(subscription, own, at=ctx.at, event=ctx.event)
    else:  # fetched for a checkout or an invoice: until the subscription's events arrive
        revenue_state_place(subscription, state, at=ctx.at, event=ctx.event, provisional=True)
    outcome = subscription_state_apply(
        subscription, state, at=ctx.at, event=ctx.event, authoritative=fetched is not None
    )
    return subscription, state, outcome


def subscription_changed(ctx: Context) -> Outcome:
    """``customer.subscription.created``, ``.updated`` and ``.deleted`` carry the whole
    subscription: apply it (``.deleted`` has status ``canceled``: back to the free plan)."""
    return _apply_from_event(ctx, ctx.obj)[2]


def subscription_trial_will_end(ctx: Context) -> Outcome:
    """Three days before a trial ends: mirror the state, record a ``trial_will_end``
    product event and announce ``trial_ending`` once the transaction commits (the
    notifications app e-mails the owners and admins), if the workspace is still trialing."""
    subscription, state, outcome = _apply_from_event(ctx, ctx.obj)
    if (
        subscription is None
        or state is None
        or subscription.stripe_subscription_id != state.subscription_id
        or subscription.status != Subscription.Status.TRIALING
    ):
        return outcome
    trial_end = subscription.trial_end or state.trial_end
    product_event_record(
        workspace_id=subscription.workspace_id,
        name="trial_will_end",
        properties={
            "plan": subscription.plan.code,
            "trial_end": trial_end.isoformat() if trial_end else None,
        },
        occurred_at=ctx.at,
    )
    arguments = {
        "workspace_id": subscription.workspace_id,
        "plan_name": subscription.plan.name,
        "trial_end": trial_end,
        "stripe_event_id": ctx.event.stripe_id,
    }
    transaction.on_commit(lambda: trial_ending.send(sender=Subscription, **arguments), robust=True)
    return PROCESSED


def checkout_completed(ctx: Context) -> Outcome:
    """A Checkout session paid: link the workspace (``client_reference_id`` / metadata) to
    the Stripe customer and subscription. If the subscription's own events have not
    arrived yet, its state is fetched from Stripe and applied."""
    session = ctx.obj
    if session.get("mode") != "subscription":
        return skipped(f"a {session.get('mode')} checkout, not a subscription")
    subscription_id = id_from(session.get("subscription"))
    customer_id = id_from(session.get("customer"))
    hint = checkout_workspace_hint(session)
    if not subscription_id:
        return skipped("the session has no subscription")
    fetched = ctx.fetched_for(subscription_id)
    if fetched is not None:
        return _apply_from_event(ctx, fetched, hint=hint)[2]
    row = subscription_locate(
        subscription_id=subscription_id, customer_id=customer_id, workspace_hint=hint
    )
    if row is None:
        return skipped(f"no workspace matches checkout {session.get('id')}")
    subscription = subscription_lock(row)
    if subscription.stripe_subscription_id != subscription_id or not subscription.stripe_watermark:
        raise FetchNeeded(subscription_id, "checkout completed before the subscription's events")
    if customer_id and subscription.stripe_customer_id != customer_id:
        subscription.stripe_customer_id = customer_id
        subscription.save(update_fields=["stripe_customer_id", "updated_at"])
    return PROCESSED


def _invoice_subscription(ctx: Context) -> tuple[Subscription | None, str, Outcome | None]:
    """The locked subscription row an invoice event is about; applies a fetched state when
    the subscription was unknown here (a gap)."""
    invoice = ctx.obj
    subscription_id = invoice_subscription_id(invoice)
    fetched = ctx.fetched_for(subscription_id) if subscription_id else None
    if fetched is not None:
        subscription, _, outcome = _apply_from_event(
            ctx, fetched, hint=invoice_workspace_hint(invoice)
        )
        return subscription, subscription_id, outcome
    row = subscription_locate(
        subscription_id=subscription_id,
        customer_id=id_from(invoice.get("customer")),
        workspace_hint=invoice_workspace_hint(invoice),
    )
    if row is None:
        if subscription_id:
            raise FetchNeeded(subscription_id, "an invoice for a subscription not linked yet")
        return None, subscription_id, skipped(f"no workspace for invoice {invoice.get('id')}")
    subscription = subscription_lock(row)
    if subscription_id and not subscription.stripe_subscription_id:
        raise FetchNeeded(subscription_id, "an invoice for a subscription not linked yet")
    return subscription, subscription_id, None


def invoice_paid(ctx: Context) -> Outcome:
    """Store the invoice. A past-due subscription whose invoice is paid recovers: its new
    status comes from the subscription itself, fetched from Stripe."""
    subscription, subscription_id, outcome = _invoice_subscription(ctx)
    if subscription is None:
        return outcome or PROCESSED
    invoice_store(ctx.obj, workspace_id=subscription.workspace_id)
    if outcome is not None:  # a fetched state was applied
        return outcome
    if (
        subscription.stripe_subscription_id == subscription_id
        and subscription.status == Subscription.Status.PAST_DUE
        and (subscription.stripe_watermark is None or ctx.at >= subscription.stripe_watermark)
        and (subscription.past_due_since is None or ctx.at >= subscription.past_due_since)
    ):
        raise FetchNeeded(subscription_id, "a past-due subscription's invoice was paid")
    return PROCESSED


def invoice_payment_failed(ctx: Context) -> Outcome:
    """Store the invoice and mark the subscription past due (once: ``past_due_since`` keeps
    the first failure). An event older than the state applied only stores the invoice."""
    subscription, subscription_id, outcome = _invoice_subscription(ctx)
    if subscription is None:
        return outcome or PROCESSED
    invoice_store(ctx.obj, workspace_id=subscription.workspace_id)
    if outcome is not None:
        return outcome
    if subscription.stripe_subscription_id != subscription_id or not subscription.is_paid:
        return PROCESSED
    if subscription.status == Subscription.Status.PAST_DUE:
        return PROCESSED
    watermark = subscription.stripe_watermark
    if watermark is not None and ctx.at < watermark:
        return skipped(
            f"older than the state applied (watermark {watermark.isoformat()}); the invoice "
            "is stored"
        )
    if watermark is not None and ctx.at == watermark:
        raise FetchNeeded(subscription_id, "a payment failed in the same second as the state")
    subscription_past_due_mark(subscription, at=ctx.at, event=ctx.event)
    return PROCESSED


HANDLERS: dict[str, Callable[[Context], Outcome]] = {
    "checkout.session.completed": checkout_completed,
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "customer.subscription.trial_will_end": subscription_trial_will_end,
    "invoice.paid": invoice_paid,
    "invoice.payment_failed": invoice_payment_failed,
}
HANDLED_TYPES = tuple(HANDLERS)
