"""What the notifications app does when a lower app reports something: usage counted
(``usage.signals.usage_recorded``), a member, invitation or project added (seats and
projects are limits too), and billing's lifecycle moments (``billing.signals``). Each runs
after the transaction that caused it committed."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import Invitation, Membership, Project
from billing.signals import (
    payment_failed,
    subscription_canceled,
    subscription_resumed,
    trial_ending,
)
from notifications.models import Kind
from notifications.services import lifecycle_notify, usage_alerts_raise
from usage.current import usage_current
from usage.selectors import metric_definitions
from usage.signals import usage_recorded


def _batch_cause(name: str, used: int, limit: int) -> str:
    return f"A usage batch took {name} to {used:,} of {limit:,}"


@receiver(usage_recorded)
def usage_recorded_alert(sender, workspace_id: int, totals, **kwargs) -> None:
    usage_alerts_raise(workspace_id=workspace_id, readings=totals, cause=_batch_cause)


COUNTED = {Membership: "seats", Invitation: "seats", Project: "projects"}


@receiver(post_save, sender=Membership)
@receiver(post_save, sender=Invitation)
@receiver(post_save, sender=Project)
def counted_row_added(sender, instance, created: bool, **kwargs) -> None:
    """A member, invitation or project added: check its limit once the change commits,
    on a fresh reading."""
    if not created:
        return
    workspace_id, metric = instance.workspace_id, COUNTED[sender]
    what = {"seats": "A new member or invitation", "projects": "A new project"}[metric]

    def check() -> None:
        used = usage_current(workspace_id=workspace_id, metric=metric, fresh=True)
        period_start = metric_definitions()[metric].period_start(timezone.now())
        usage_alerts_raise(
            workspace_id=workspace_id,
            readings=[(metric, period_start, used)],
            cause=lambda name, used, limit: f"{what} took {name} to {used:,} of {limit:,}",
        )

    transaction.on_commit(check, robust=True)


def _key(*parts) -> str:
    """The first part given (a date or an event id), else now (reconciliation found the
    change, once)."""
    for part in parts:
        if part:
            return part.isoformat() if hasattr(part, "isoformat") else str(part)
    return timezone.now().isoformat()


@receiver(trial_ending)
def trial_ending_mail(sender, workspace_id, plan_name, trial_end, stripe_event_id, **kwargs):
    lifecycle_notify(
        workspace_id=workspace_id,
        kind=Kind.TRIAL_ENDING,
        dedupe_key=f"trial:{_key(trial_end, stripe_event_id)}",
        stripe_event_id=stripe_event_id,
        context={"plan_name": plan_name, "trial_end": trial_end},
        link_label="Add a payment method",
    )


@receiver(payment_failed)
def payment_failed_mail(
    sender, workspace_id, plan_name, past_due_since, grace_until, stripe_event_id, **kwargs
):
    lifecycle_notify(
        workspace_id=workspace_id,
        kind=Kind.PAYMENT_FAILED,
        dedupe_key=f"past_due:{_key(past_due_since, stripe_event_id)}",
        stripe_event_id=stripe_event_id,
        context={"plan_name": plan_name, "grace_until": grace_until},
        link_label="Update the card",
    )


@receiver(subscription_canceled)
def subscription_canceled_mail(sender, workspace_id, plan_name, ends_at, stripe_event_id, **kwargs):
    lifecycle_notify(
        workspace_id=workspace_id,
        kind=Kind.SUBSCRIPTION_CANCELED,
        dedupe_key=f"canceled:{_key(stripe_event_id)}",
        stripe_event_id=stripe_event_id,
        context={"plan_name": plan_name, "ends_at": ends_at},
        link_label="Keep the subscription",
    )


@receiver(subscription_resumed)
def subscription_resumed_mail(sender, workspace_id, plan_name, stripe_event_id, **kwargs):
    lifecycle_notify(
        workspace_id=workspace_id,
        kind=Kind.SUBSCRIPTION_RESUMED,
        dedupe_key=f"resumed:{_key(stripe_event_id)}",
        stripe_event_id=stripe_event_id,
        context={"plan_name": plan_name},
        link_label="See billing",
    )
