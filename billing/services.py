"""Every write to billing: plan assignment, overrides, the audit of catalog edits, and the
self-serve flows (checkout, seat and plan changes, cancel and resume, the billing portal).

Each change that alters what a workspace may do drops its cached entitlements (through the
model signals in ``billing.signals``) and is written to the audit log.

The self-serve flows ask the gateway (``billing.stripe.gateway.gateway()``: Stripe, or the
offline local gateway) to change the subscription and never write the mirror themselves:
Stripe owns subscription state, and the webhook handlers mirror what it sends. They call
the gateway outside any transaction, so no row lock is held while Stripe answers.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import dateformat, timezone

from accounts import selectors as accounts_selectors
from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict, PermissionDenied
from accounts.locks import workspace_lock
from accounts.models import MANAGER_ROLES, AuditEvent, Membership, User, Workspace
from billing import selectors as billing_selectors
from billing.entitlements import (
    PlanView,
    catalog,
    workspace_entitlements,
)
from billing.models import (
    Cancellation,
    Enforcement,
    Feature,
    Plan,
    Price,
    Subscription,
    WorkspaceOverride,
)
from billing.stripe.gateway import ChangePreview, gateway
from billing.stripe.prices import PriceNotConnected
from usage.limits import usage_current
from usage.models import Metric

logger = logging.getLogger(__name__)


@transaction.atomic
def subscription_create_free(*, workspace: Workspace) -> Subscription:
    """Put a new workspace on the default free plan."""
    return Subscription.objects.create(
        workspace=workspace, plan=billing_selectors.default_free_plan(), seats=0
    )


@transaction.atomic
def subscription_set_plan(
    *, workspace: Workspace, plan: Plan, actor: User | None, reason: str = ""
) -> Subscription:
    """Move a workspace to a plan by hand (a contract closed by sales, a courtesy downgrade).
    Stripe-backed changes go through the checkout and webhooks instead: a workspace billed
    through Stripe is refused. What the workspace already uses above the new plan's limits
    stays, read-only: nothing more can be added until it fits (``usage.limits.limit_check``
    blocks every addition while used > limit)."""
    workspace_lock(workspace)
    subscription = Subscription.objects.select_for_update().get(workspace=workspace)
    if subscription.is_paid:
        raise Conflict(
            "This workspace is billed through Stripe: change its plan there (or from its "
            "billing page), so the subscription and the revenue ledger stay in step."
        )
    before = {"plan": subscription.plan.code}
    if subscription.plan_id == plan.pk:
        return subscription
    subscription.plan = plan
    subscription.price = None
    subscription.save(update_fields=["plan", "price", "updated_at"])
    audit_record(
        action=AuditEvent.Action.SUBSCRIPTION_PLAN_CHANGED,
        actor=actor,
        subject=workspace.slug,
        workspace=workspace,
        before=before,
        after={"plan": plan.code, "reason": reason},
    )
    return subscription


def _override_view(override: WorkspaceOverride) -> dict:
    data = {"reason": override.reason}
    if override.metric_id:
        data |= {
            "metric": override.metric_id,
            "limit": override.limit,
            "enforcement": override.enforcement,
        }
    else:
        data |= {"feature": override.feature_id, "enabled": override.enabled}
    if override.expires_at:
        data["expires_at"] = override.expires_at.isoformat()
    return data


@transaction.atomic
def override_grant(
    *,
    workspace: Workspace,
    actor: User,
    reason: str,
    metric: str | None = None,
    limit: int | None = None,
    enforcement: str = Enforcement.HARD,
    feature: str | None = None,
    enabled: bool = True,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> WorkspaceOverride:
    """Give one workspace a different limit (``metric`` + ``limit``, None = unlimited) or
    feature (``feature`` + ``enabled``), with a reason and an optional expiry."""
    if (metric is None) == (feature is None):
        raise ApplicationError("Override either a limit (metric) or a feature.", field="metric")
    if metric is not None and not Metric.objects.filter(key=metric).exists():
        raise ApplicationError(f"Unknown metric “{metric}”.", field="metric")
    if feature is not None and not Feature.objects.filter(key=feature).exists():
        raise ApplicationError(f"Unknown feature “{feature}”.", field="feature")
    if limit is not None and limit < 0:
        raise ApplicationError("A limit cannot be negative.", field="limit")
    if not reason.strip():
        raise ApplicationError("Say why the override is granted.", field="reason")
    if expires_at is not None and expires_at <= (now or timezone.now()):
        raise ApplicationError("The expiry must be in the future.", field="expires_at")
    override = WorkspaceOverride.objects.create(
        workspace=workspace,
        metric_id=metric,
        limit=limit if metric else None,
        enforcement=enforcement,
        feature_id=feature,
        enabled=enabled,
        reason=reason.strip(),
        granted_by=actor,
        expires_at=expires_at,
    )
    audit_record(
        action=AuditEvent.Action.OVERRIDE_GRANTED,
        actor=actor,
        subject=workspace.slug,
        workspace=workspace,
        after=_override_view(override),
    )
    return override


@transaction.atomic
def override_revoke(*, override: WorkspaceOverride, actor: User) -> None:
    """Remove an override; the plan's limit or feature applies again."""
    before = _override_view(override)
    workspace = override.workspace
    override.delete()
    audit_record(
        action=AuditEvent.Action.OVERRIDE_REVOKED,
        actor=actor,
        subject=workspace.slug,
        workspace=workspace,
        before=before,
    )


# Catalog audit ----------------------------------------------------------------------------


def plan_snapshot(plan: Plan) -> dict:
    """A plan with its prices, limits and features, as plain data for the audit log."""
    if plan.pk is None:
        return {}
    fields = ["code", "name", "description", "tier_rank", "is_public", "is_default_free"]
    return {
        **model_to_dict(plan, fields=[*fields, "trial_days", "status"]),
        "prices": sorted(
            f"{p.interval} {p.amount_cents} {p.currency} {p.scheme}"
            f"{'' if p.is_active else ' (inactive)'}"
            for p in plan.prices.all()
        ),
        "limits": {
            pl.metric_id: {"limit": pl.limit, "enforcement": pl.enforcement}
            for pl in plan.limits.all()
        },
        "features": {pf.feature_id: pf.enabled for pf in plan.features.all()},
    }


def plan_change_record(*, plan: Plan, actor: User | None, before: dict) -> AuditEvent | None:
    """Audit a catalog edit: who, when, and only what changed, before and after."""
    after = plan_snapshot(plan)
    old, new = _changed(before, after)
    if not old and not new:
        return None
    return audit_record(
        action=AuditEvent.Action.PLAN_CREATED if not before else AuditEvent.Action.PLAN_CHANGED,
        actor=actor,
        subject=f"plan:{plan.code}",
        before=old,
        after=new,
    )


def _changed(before: dict, after: dict, *, descend: bool = True) -> tuple[dict, dict]:
    """Only what differs; within limits and features, only the entries that differ (one
    limit, not all of them)."""
    old, new = {}, {}
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        if descend and isinstance(was, dict) and isinstance(now, dict):
            was, now = _changed(was, now, descend=False)
        if key in before:
            old[key] = was
        if key in after:
            new[key] = now
    return old, new


@transaction.atomic
def price_stripe_connect(*, price: Price, stripe_price_id: str, actor: User | None) -> Price:
    """Record the Stripe price that sells a catalog price (``manage.py stripe_sync_catalog``
    found or created it), so Stripe can sell it. Refused (409) when the price is connected
    to another Stripe price already, or that Stripe price sells another catalog price."""
    if not stripe_price_id:
        raise ApplicationError("Name the Stripe price.", field="stripe_price_id")
    locked = Price.objects.select_for_update().select_related("plan").get(pk=price.pk)
    if locked.stripe_price_id == stripe_price_id:
        return locked
    if locked.stripe_price_id:
        raise Conflict(
            f"{locked} is connected to the Stripe price {locked.stripe_price_id} already.",
            field="stripe_price_id",
        )
    other = Price.objects.filter(stripe_price_id=stripe_price_id).exclude(pk=locked.pk).first()
    if other is not None:
        raise Conflict(
            f"The Stripe price {stripe_price_id} sells {other} already.",
            field="stripe_price_id",
        )
    locked.stripe_price_id = stripe_price_id
    locked.save(update_fields=["stripe_price_id", "updated_at"])
    audit_record(
        action=AuditEvent.Action.PLAN_CHANGED,
        actor=actor,
        subject=f"plan:{locked.plan.code}",
        before={"stripe_price_id": {f"{locked.interval} {locked.currency}": ""}},
        after={"stripe_price_id": {f"{locked.interval} {locked.currency}": stripe_price_id}},
    )
    return locked


# Self-serve flows -------------------------------------------------------------------------

# Audit actions of the self-serve flows. Their values are final; ``AuditEvent.Action`` in
# accounts gets matching members (the audit log shows the value until then).

MAX_SEATS = 10_000
COMMENT_MAX_LENGTH = 2_000


def _manager_require(*, workspace: Workspace, actor: User) -> None:
    if not Membership.objects.filter(
        workspace=workspace, user=actor, role__in=MANAGER_ROLES
    ).exists():
        raise PermissionDenied("Only the workspace's owners and admins can change its billing.")


def _seats_check(seats: object) -> int:
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


def _price_check(*, price: Price, currency: str, current: Price | None = None) -> PlanView:
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


def _quantity(price: Price, seats: int) -> int:
    return seats if price.scheme == Price.Scheme.PER_SEAT else 1


def _seats_used_text(workspace: Workspace) -> tuple[int, str]:
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
    seats_used, seats_detail = _seats_used_text(workspace)
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


def _site(site_url: str | None) -> str:
    return (site_url or settings.HANDOFF_SITE_URL).rstrip("/")


def checkout_start(
    *,
    workspace: Workspace,
    price: Price,
    seats: int,
    actor: User,
    site_url: str | None = None,
) -> str:
    """Start the purchase of ``price`` for ``seats`` seats by a workspace on the free plan:
    the URL to send the buyer to (Stripe Checkout, or the local checkout page). The buyer
    comes back to the billing page's "processing" step (``site_url``, by default
    ``HANDOFF_SITE_URL``); the webhooks then put the workspace on the plan. Owners and
    admins only; at least as many seats as members and pending invitations. Refused with
    ``BillingNotConfigured`` (503) before anything else when there is no gateway."""
    _manager_require(workspace=workspace, actor=actor)
    billing = gateway()
    seats = _seats_check(seats)
    subscription = Subscription.objects.select_related("price").get(workspace=workspace)
    if subscription.is_paid:
        raise Conflict(
            "This workspace already has a subscription: change its plan or seats instead.",
        )
    plan = _price_check(price=price, currency=subscription.currency)
    quantity = _quantity(price, seats)
    if price.scheme == Price.Scheme.PER_SEAT:
        used, detail = _seats_used_text(workspace)
        if seats < used:
            raise ApplicationError(
                f"This workspace holds {used} seats ({detail}): buy at least {used}.",
                field="seats",
            )
        _seat_cap_check(plan=plan, seats=seats)
    subscription_fit_check(workspace=workspace, price=price, seats=quantity)
    site = _site(site_url)
    slug = workspace.slug
    success_url = (
        site
        + reverse("workspace_billing_return", kwargs={"workspace_slug": slug})
        + "?session_id={CHECKOUT_SESSION_ID}"
    )
    cancel_url = (
        site + reverse("workspace_billing", kwargs={"workspace_slug": slug}) + "?checkout=canceled"
    )
    started = billing.checkout_start(
        workspace=workspace,
        price=price,
        seats=quantity,
        customer_id=subscription.stripe_customer_id,
        customer_email=actor.email,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return started.url


def _seat_cap_check(*, plan: PlanView, seats: int) -> None:
    """Refuse more seats than the plan's seat cap."""
    if not plan.allows("seats", seats):
        raise ApplicationError(
            f"{plan.name} goes up to {plan.limits['seats'].limit} seats: choose a larger plan.",
            field="seats",
        )


def _live_subscription(workspace: Workspace) -> Subscription:
    subscription = Subscription.objects.select_related("price", "plan").get(workspace=workspace)
    if not subscription.is_paid or subscription.price is None:
        raise Conflict("This workspace has no paid subscription: choose a plan first.")
    return subscription


def _change_check(*, workspace: Workspace, price: Price, seats: int) -> Subscription:
    gateway()  # no gateway: refused (BillingNotConfigured) before anything is checked
    seats = _seats_check(seats)
    subscription = _live_subscription(workspace)
    plan = _price_check(price=price, currency=subscription.currency, current=subscription.price)
    quantity = _quantity(price, seats)
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
        _seat_cap_check(plan=plan, seats=seats)
    subscription_fit_check(workspace=workspace, price=price, seats=quantity)
    return subscription


def subscription_change_preview(*, workspace: Workspace, price: Price, seats: int) -> ChangePreview:
    """What changing to ``price`` with ``seats`` seats costs: the prorated amount due now
    and the new amount per period. Refused, like the change itself, when it is not allowed
    (see ``subscription_change``)."""
    subscription = _change_check(workspace=workspace, price=price, seats=seats)
    return gateway().subscription_change_preview(
        subscription=subscription, price=price, seats=_quantity(price, seats)
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
    _manager_require(workspace=workspace, actor=actor)
    subscription = _change_check(workspace=workspace, price=price, seats=seats)
    before = _terms(subscription.price, subscription.seats)
    updated = gateway().subscription_change(
        subscription=subscription, price=price, seats=_quantity(price, seats)
    )
    audit_record(
        action=AuditEvent.Action.SUBSCRIPTION_CHANGED,
        actor=actor,
        subject=workspace.slug,
        workspace=workspace,
        before=before,
        after=_terms(price, _quantity(price, seats)),
    )
    return updated


def _ends_on(subscription: Subscription) -> str:
    if subscription.current_period_end is None:
        return "at the end of the period"
    return f"on {dateformat.format(subscription.current_period_end, 'M j, Y')}"


def subscription_cancel(
    *, workspace: Workspace, reason: str, comment: str, actor: User
) -> Cancellation:
    """Cancel at the end of the paid period, with the reason (``Cancellation.Reason``) and
    an optional comment, kept for churn analysis. The workspace keeps its plan until the
    period ends, then goes back to the free plan. Owners and admins only.

    The request is recorded before the gateway is asked, so the reason is kept whichever
    arrives first, the gateway's answer or its webhook (the local gateway delivers the
    webhook before it answers): under the workspace lock the Cancellation is saved and
    committed, which makes the subscription read as ending (``subscription_canceling``) and
    refuses a second cancel, a double submit included; then the gateway is called, outside
    any transaction. When the gateway refuses or cannot be reached, the Cancellation is
    deleted again and the error raised, so the page says why and shows the subscription as
    the mirror has it. Once the gateway agreed, the request is written to the audit log."""
    _manager_require(workspace=workspace, actor=actor)
    if reason not in Cancellation.Reason.values:
        raise ApplicationError("Choose a reason for cancelling.", field="reason")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        raise ApplicationError(
            f"Keep the comment under {COMMENT_MAX_LENGTH:,} characters.", field="comment"
        )
    billing = gateway()  # no gateway: refused (BillingNotConfigured) before anything is written
    with transaction.atomic():
        workspace_lock(workspace)
        subscription = _live_subscription(workspace)
        if billing_selectors.subscription_canceling(subscription):
            raise Conflict(
                f"The subscription is already set to end {_ends_on(subscription)}: "
                "nothing more to cancel. To keep it, resume it."
            )
        cancellation = Cancellation.objects.create(
            workspace=workspace,
            subscription=subscription,
            reason=reason,
            comment=comment,
            requested_by=actor,
        )
    try:
        billing.subscription_cancel_at_period_end(
            subscription=subscription, cancel=True, feedback=reason, comment=comment
        )
    except Exception:
        with transaction.atomic():
            workspace_lock(workspace)
            Cancellation.objects.filter(pk=cancellation.pk).delete()
        raise
    audit_record(
        action=AuditEvent.Action.SUBSCRIPTION_CANCEL_REQUESTED,
        actor=actor,
        subject=workspace.slug,
        workspace=workspace,
        after={
            "plan": subscription.plan.code,
            "reason": reason,
            "comment": comment,
            "ends_at": (
                subscription.current_period_end.isoformat()
                if subscription.current_period_end
                else None
            ),
        },
    )
    return cancellation


def subscription_resume(
    *, workspace: Workspace, actor: User, now: datetime | None = None
) -> Subscription:
    """Keep a subscription set to end at period end, before the period ends. Owners and
    admins only.

    As with cancelling, the request is recorded first (the open Cancellation is marked
    resumed, under the workspace lock, committed), so the answer does not depend on whether
    the gateway's webhook arrives before its answer, and a second resume is refused; the
    gateway is called outside any transaction, and if it fails the mark is taken off again
    and the error raised. Once the gateway agreed, the resume is written to the audit
    log."""
    _manager_require(workspace=workspace, actor=actor)
    now = now or timezone.now()
    billing = gateway()  # no gateway: refused (BillingNotConfigured) before anything is written
    with transaction.atomic():
        workspace_lock(workspace)
        subscription = _live_subscription(workspace)
        if not billing_selectors.subscription_canceling(subscription):
            raise Conflict("The subscription is not set to end: there is nothing to resume.")
        if subscription.current_period_end is not None and subscription.current_period_end <= now:
            raise Conflict("The period has ended: choose a plan to subscribe again.")
        open_requests = Cancellation.objects.filter(
            subscription=subscription, resumed_at__isnull=True
        )
        resumed = list(open_requests.values_list("pk", flat=True))
        open_requests.update(resumed_at=now)
    try:
        billing.subscription_cancel_at_period_end(
            subscription=subscription, cancel=False, feedback="", comment=""
        )
    except Exception:
        with transaction.atomic():
            workspace_lock(workspace)
            Cancellation.objects.filter(pk__in=resumed, resumed_at=now).update(resumed_at=None)
        raise
    audit_record(
        action=AuditEvent.Action.SUBSCRIPTION_RESUMED,
        actor=actor,
        subject=workspace.slug,
        workspace=workspace,
        after={"plan": subscription.plan.code},
    )
    return subscription


def billing_portal_url(*, workspace: Workspace, return_url: str) -> str:
    """Where the workspace's billing contact updates the card and sees invoices: Stripe's
    Customer Portal, or the local portal page. ``return_url``: where its back link goes."""
    subscription = Subscription.objects.get(workspace=workspace)
    if not subscription.stripe_customer_id:
        raise Conflict("This workspace has no billing account yet: choose a plan first.")
    return gateway().portal_url(subscription=subscription, return_url=return_url)
