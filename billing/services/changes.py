"""Seat and plan changes of a live subscription: the preview and the change."""

from accounts.audit import audit_record
from accounts.models import AuditEvent, User, Workspace
from billing.models import (
    Price,
)
from billing.services.validation import change_check, manager_require, price_quantity
from billing.stripe.gateway import ChangePreview, gateway


def subscription_change_preview(*, workspace: Workspace, price: Price, seats: int) -> ChangePreview:
    """What changing to ``price`` with ``seats`` seats costs: the prorated amount due now
    and the new amount per period. Refused, like the change itself, when it is not allowed
    (see ``subscription_change``)."""
    subscription = change_check(workspace=workspace, price=price, seats=seats)
    return gateway().subscription_change_preview(
        subscription=subscription, price=price, seats=price_quantity(price, seats)
    )


def _terms(price: Price | None, seats: int) -> dict:
    if price is None:
        return {"seats": seats}
    return {
        "plan": price.plan.code,
        "interval": price.interval,
        "price_cents": price.amount_cents,
        "currency": price.currency,
        "seats": seats,
    }


def subscription_change(*, workspace: Workspace, price: Price, seats: int, actor: User) -> dict:
    """Change the subscription to ``price`` with ``seats`` seats: more or fewer seats, a
    higher or lower plan, monthly ↔ yearly. Prorated and invoiced at once; the webhooks
    bring the new state to the mirror. Owners and admins only. Refused, naming the problem,
    for a price not on offer, in another currency or not connected to Stripe yet, fewer
    seats than members and pending
    invitations, a plan whose limits the workspace's usage exceeds, or a past-due
    subscription. Returns Stripe's subscription object."""
    manager_require(workspace=workspace, actor=actor)
    subscription = change_check(workspace=workspace, price=price, seats=seats)
    before = _terms(subscription.price, subscription.seats)
    updated = gateway().subscription_change(
        subscription=subscription, price=price, seats=price_quantity(price, seats)
    )
    audit_record(
        action=AuditEvent.Action.SUBSCRIPTION_CHANGED,
        actor=actor,
        subject=workspace.slug,
        workspace=workspace,
        before=before,
        after=_terms(price, price_quantity(price, seats)),
    )
    return updated
