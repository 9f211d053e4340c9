"""Cancelling a subscription at the end of its period, and resuming it before then."""

from datetime import datetime

from django.db import transaction
from django.utils import dateformat, timezone

from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict
from accounts.locks import workspace_lock
from accounts.models import AuditEvent, User, Workspace
from billing import selectors as billing_selectors
from billing.models import (
    Cancellation,
    Subscription,
)
from billing.services.validation import COMMENT_MAX_LENGTH, live_subscription, manager_require
from billing.stripe.gateway import gateway


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
    manager_require(workspace=workspace, actor=actor)
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
        subscription = live_subscription(workspace)
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
    manager_require(workspace=workspace, actor=actor)
    now = now or timezone.now()
    billing = gateway()  # no gateway: refused (BillingNotConfigured) before anything is written
    with transaction.atomic():
        workspace_lock(workspace)
        subscription = live_subscription(workspace)
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
