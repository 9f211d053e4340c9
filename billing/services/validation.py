"""The checks the self-serve flows share: who may change billing, the seats asked for, a
price the workspace may buy, and whether the team's usage fits the new plan."""

import logging
from dataclasses import dataclass

from accounts import selectors as accounts_selectors
from accounts.errors import ApplicationError, Conflict, PermissionDenied
from accounts.models import MANAGER_ROLES, Membership, User, Workspace
from billing import selectors as billing_selectors
from billing.entitlements import (
    PlanView,
    catalog,
    workspace_entitlements,
)
from billing.models import (
    Enforcement,
    Price,
    Subscription,
)
from billing.stripe.gateway import gateway
from billing.stripe.prices import PriceNotConnected
from usage.current import usage_current
from usage.models import Metric

logger = logging.getLogger(__name__)


# Audit actions of the self-serve flows. Their values are final; ``AuditEvent.Action`` in
# accounts gets matching members (the audit log shows the value until then).

MAX_SEATS = 10_000
COMMENT_MAX_LENGTH = 2_000


def manager_require(*, workspace: Workspace, actor: User) -> None:
    if not Membership.objects.filter(
        workspace=workspace, user=actor, role__in=MANAGER_ROLES
    ).exists():
        raise PermissionDenied("Only the workspace's owners and admins can change its billing.")


def seats_check(seats: object) -> int:
    if isinstance(seats, bool) or not isinstance(seats, int):
        raise ApplicationError("Seats must be a whole number.", field="seats")
    if seats < 1:
        raise ApplicationError("Choose at least 1 seat.", field="seats")
    if seats > MAX_SEATS:
        raise ApplicationError(
            f"Self-serve billing goes up to {MAX_SEATS:,} seats: contact sales for more.",
            field="seats",
        )
    return seats


def price_check(*, price: Price, currency: str, current: Price | None = None) -> PlanView:
    """A price the workspace may buy: active, of an offered self-serve paid plan, in the
    workspace's currency, and connected to the gateway in use (with Stripe: it has a Stripe
    price id). The price it already pays may stay, even if no longer offered
    (grandfathered: a seat change keeps it)."""
    plan = catalog().plan(price.plan_id)
    if plan is None:  # the catalog was edited a moment ago
        raise ApplicationError("This plan is not in the catalog.", field="price")
    if current is None or price.pk != current.pk:
        if plan.is_default_free:
            raise ApplicationError(
                f"{plan.name} is free: there is nothing to buy. To go back to it, cancel the "
                "subscription.",
                field="price",
            )
        if plan.is_archived:
            raise ApplicationError(f"The {plan.name} plan is no longer offered.", field="price")
        if not plan.is_public:
            raise ApplicationError(
                f"{plan.name} is sold by our sales team, not self-serve: contact sales.",
                field="price",
            )
        if not price.is_active:
            raise ApplicationError(
                f"This {price.get_interval_display().lower()} price of {plan.name} is no "
                "longer offered: choose a current price.",
                field="price",
            )
    if price.currency != currency:
        raise ApplicationError(
            f"This workspace pays in {currency.upper()}; that price is in "
            f"{price.currency.upper()}.",
            field="price",
        )
    if not billing_selectors.price_connected(stripe_price_id=price.stripe_price_id):
        logger.warning(
            "price %s (%s) has no Stripe price id: run manage.py stripe_sync_catalog",
            price.pk,
            price,
        )
        raise PriceNotConnected(price)
    return plan


def price_quantity(price: Price, seats: int) -> int:
    return seats if price.scheme == Price.Scheme.PER_SEAT else 1


def seats_used_text(workspace: Workspace) -> tuple[int, str]:
    members = accounts_selectors.workspace_member_count(workspace_id=workspace.pk)
    used = accounts_selectors.workspace_seats_used(workspace_id=workspace.pk)
    pending = used - members
    detail = f"{members} member{'s' if members != 1 else ''}"
    if pending:
        detail += f" and {pending} pending invitation{'s' if pending != 1 else ''}"
    return used, detail


@dataclass(frozen=True)
class UsageConflict:
    """A limit a change would tighten below what the workspace uses now."""

    metric: str
    name: str
    unit: str
    used: int
    limit: int
    how: str

    @property
    def text(self) -> str:
        return f"{self.name}: {self.limit:,} allowed, {self.used:,} used — {self.how}"


def _how_to_fit(metric: str, used: int, limit: int, unit: str, seats_detail: str) -> str:
    excess = used - limit
    if metric == "seats":
        return (
            f"{seats_detail} hold {used} seats: remove {excess} member"
            f"{'s' if excess != 1 else ''} or revoke invitations first"
        )
    if metric == "projects":
        return f"delete {excess} project{'s' if excess != 1 else ''} first"
    definition = Metric.objects.filter(key=metric).first()
    if definition is not None and definition.reset_period == Metric.Reset.MONTHLY:
        return "wait until the usage resets next month, or choose a larger plan"
    return f"bring it down by {excess:,} {unit} first"


def subscription_fit_check(*, workspace: Workspace, price: Price, seats: int) -> None:
    """Refuse a change to ``price`` and ``seats`` when it tightens a hard limit below what
    the workspace uses now (a downgrade, fewer seats), naming what must change first.
    Limits the change does not tighten are not checked: what is over them now stays over
    whichever plan it is on."""
    current = workspace_entitlements(workspace_id=workspace.pk)
    target_plan = catalog().plan(price.plan_id)
    if target_plan is None:
        raise ApplicationError("This plan is not in the catalog.", field="price")
    if price.scheme == Price.Scheme.PER_SEAT:  # as entitlements count seats paid
        target = target_plan.limits_with_seats_paid(seats)
    else:
        target = dict(target_plan.limits)
    for override in current.overrides:  # overrides stay whatever the plan
        if override.metric:
            target[override.metric] = current.limits[override.metric]
    seats_used, seats_detail = seats_used_text(workspace)
    conflicts = []
    for metric, spec in sorted(target.items()):
        if spec.limit is None or spec.enforcement != Enforcement.HARD:
            continue
        now_spec = current.limits.get(metric)
        if now_spec is not None and now_spec.limit is not None and spec.limit >= now_spec.limit:
            continue  # not tightened
        used = (
            seats_used
            if metric == "seats"
            else usage_current(workspace_id=workspace.pk, metric=metric, fresh=True)
        )
        if used > spec.limit:
            definition = Metric.objects.filter(key=metric).first()
            name = definition.name if definition else metric.replace("_", " ").capitalize()
            unit = definition.unit if definition else ""
            conflicts.append(
                UsageConflict(
                    metric=metric,
                    name=name,
                    unit=unit,
                    used=used,
                    limit=spec.limit,
                    how=_how_to_fit(metric, used, spec.limit, unit, seats_detail),
                )
            )
    if conflicts:
        field = "seats" if all(c.metric == "seats" for c in conflicts) else "price"
        raise Conflict(
            f"{target_plan.name} with {seats} seat{'s' if seats != 1 else ''} cannot hold what "
            "this workspace uses now. "
            + "; ".join(c.text for c in conflicts)
            + ". Nothing was changed.",
            field=field,
        )


def seat_cap_check(*, plan: PlanView, seats: int) -> None:
    """Refuse more seats than the plan's seat cap."""
    if not plan.allows("seats", seats):
        raise ApplicationError(
            f"{plan.name} goes up to {plan.limits['seats'].limit} seats: choose a larger plan.",
            field="seats",
        )


def live_subscription(workspace: Workspace) -> Subscription:
    subscription = Subscription.objects.select_related("price", "plan").get(workspace=workspace)
    if not subscription.is_paid or subscription.price is None:
        raise Conflict("This workspace has no paid subscription: choose a plan first.")
    return subscription


def change_check(*, workspace: Workspace, price: Price, seats: int) -> Subscription:
    gateway()  # no gateway: refused (BillingNotConfigured) before anything is checked
    seats = seats_check(seats)
    subscription = live_subscription(workspace)
    plan = price_check(price=price, currency=subscription.currency, current=subscription.price)
    quantity = price_quantity(price, seats)
    if subscription.price_id == price.pk and subscription.seats == quantity:
        raise ApplicationError(
            "That is the current plan, interval and number of seats: nothing to change.",
            field="seats",
        )
    if subscription.status == Subscription.Status.PAST_DUE:
        raise Conflict(
            "The last payment failed: update the card in the billing portal first, then change "
            "the subscription."
        )
    if price.scheme == Price.Scheme.PER_SEAT:
        seat_cap_check(plan=plan, seats=seats)
    subscription_fit_check(workspace=workspace, price=price, seats=quantity)
    return subscription
