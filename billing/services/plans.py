"""Which plan a workspace is on, set by the system or by staff (not through the gateway):
the free plan at sign-up and a move by hand, audited."""

from django.db import transaction

from accounts.audit import audit_record
from accounts.errors import Conflict
from accounts.locks import workspace_lock
from accounts.models import AuditEvent, User, Workspace
from billing import selectors as billing_selectors
from billing.models import (
    Plan,
    Subscription,
)
from billing.signals import workspace_plan_set


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
    stays, read-only: nothing more can be added until it fits (``billing.limits.limit_check``
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
    upgraded = plan.tier_rank > subscription.plan.tier_rank
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
    arguments = {"workspace_id": workspace.pk, "plan_code": plan.code, "upgraded": upgraded}
    transaction.on_commit(
        lambda: workspace_plan_set.send(sender=Subscription, **arguments), robust=True
    )
    return subscription
