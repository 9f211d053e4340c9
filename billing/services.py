"""Every write to billing: plan assignment, overrides, and the audit of catalog edits.

Each change that alters what a workspace may do drops its cached entitlements (through the
model signals in ``billing.signals``) and is written to the audit log.
"""

from datetime import datetime

from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts.errors import ApplicationError
from accounts.models import AuditEvent, User, Workspace
from billing.models import Enforcement, Feature, Plan, Subscription, WorkspaceOverride
from usage.models import Metric


def _audit(
    *,
    action: str,
    actor: User | None,
    subject: str,
    workspace: Workspace | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        subject=subject,
        workspace=workspace,
        before=before or {},
        after=after or {},
    )


def default_free_plan() -> Plan:
    plan = Plan.objects.filter(is_default_free=True).first()
    if plan is None:
        raise ApplicationError("No default free plan is set: mark one plan as the default.")
    return plan


@transaction.atomic
def subscription_create_free(*, workspace: Workspace) -> Subscription:
    """Put a new workspace on the default free plan."""
    return Subscription.objects.create(workspace=workspace, plan=default_free_plan(), seats=0)


@transaction.atomic
def subscription_set_plan(
    *, workspace: Workspace, plan: Plan, actor: User | None, reason: str = ""
) -> Subscription:
    """Move a workspace to a plan by hand (a contract closed by sales, a courtesy downgrade).
    Stripe-backed changes go through the checkout and webhooks instead. What the workspace
    already uses above the new plan's limits stays, read-only: nothing more can be added
    until it fits (``usage.limits.check`` blocks every addition while used > limit)."""
    subscription = Subscription.objects.select_for_update().get(workspace=workspace)
    before = {"plan": subscription.plan.code}
    if subscription.plan_id == plan.pk:
        return subscription
    subscription.plan = plan
    subscription.price = None
    subscription.save(update_fields=["plan", "price", "updated_at"])
    _audit(
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
    _audit(
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
    _audit(
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
    return _audit(
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
