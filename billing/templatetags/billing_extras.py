"""Billing in every page: the past-due banner (from the cached entitlements, so a warm page
costs no query), the demo billing banner, and Stripe's Unix timestamps as dates for the
local gateway's pages."""

from datetime import UTC, datetime

from django import template
from django.conf import settings

from billing.entitlements import workspace_entitlements
from billing.models import Subscription
from billing.stripe.gateway import demo_billing_active

register = template.Library()


@register.inclusion_tag("billing/_demo_billing_banner.html")
def demo_billing_banner() -> dict:
    """ "Demo billing: payments are simulated" on every page while the offline gateway
    serves billing: a banner on an installation (DEBUG off), a discreet note on the
    embedded default (DEBUG on)."""
    return {"show": demo_billing_active(), "discreet": settings.DEBUG}


@register.inclusion_tag("billing/_past_due_banner.html")
def past_due_banner(workspace: object, membership: object = None) -> dict:
    """ "Payment failed — fix your card", with the grace deadline, on every page of a
    past-due workspace."""
    workspace_id = getattr(workspace, "pk", None)
    if workspace_id is None:
        return {"show": False}
    entitlements = workspace_entitlements(workspace_id=workspace_id)
    if entitlements.subscription_status != Subscription.Status.PAST_DUE:
        return {"show": False}
    return {
        "show": True,
        "workspace": workspace,
        "can_manage": bool(getattr(membership, "can_manage", False)),
        "grace_until": entitlements.grace_until,
        "grace_expired": entitlements.grace_expired,
    }


@register.filter
def unix_time(value: object) -> datetime | None:
    """A Stripe timestamp (seconds since the epoch) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value, tz=UTC)
