"""The audit of catalog edits (a plan with its prices, limits and features, as one event)
and connecting a catalog price to its Stripe price."""

from django.db import transaction
from django.forms.models import model_to_dict

from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict
from accounts.models import AuditEvent, User
from billing.models import (
    Plan,
    Price,
)


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
