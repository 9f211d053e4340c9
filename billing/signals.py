"""Notifications outward: a catalog, override or subscription change drops the cached
entitlements it affects, now and again once the transaction commits (a reader may have
rebuilt the cache from the old rows in between); a workspace that upgrades through Stripe
is announced with ``workspace_upgraded``."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from billing import entitlements
from billing.models import (
    BillingSettings,
    Feature,
    Plan,
    PlanFeature,
    PlanLimit,
    Price,
    Subscription,
    WorkspaceOverride,
)

# Sent once the transaction commits when a workspace starts paying for a higher tier than
# it paid for before (free or trial → paid, or a paid plan → a higher ``tier_rank``), once
# per upgrade: a duplicate or replayed Stripe event does not send it again; seat changes do
# not send it. Arguments: ``workspace_id`` (int), ``plan_code`` (str), ``mrr_delta_cents``
# (int, the MRR change the upgrade brought), ``stripe_event_id`` (the Stripe event id, or
# None when reconciliation found the upgrade). The pql app closes the open lead as won.
workspace_upgraded = Signal()

# Sent once the transaction commits when staff move a workspace to a plan by hand
# (``subscription_set_plan``: a contract closed by sales, a courtesy change). Arguments:
# ``workspace_id``, ``plan_code``, ``upgraded`` (True when the new plan ranks above the
# old one). The pql app closes the open lead as won through sales on an upgrade.
workspace_plan_set = Signal()

# Lifecycle moments of a subscription, each sent once the transaction that mirrored it
# commits (the notifications app e-mails the workspace's owners and admins). Every one
# carries ``workspace_id``, ``plan_name`` and ``stripe_event_id`` (None when reconciliation
# found the change); a replayed Stripe event changes nothing and sends nothing again.
# ``trial_ending``: three days before a trial ends (Stripe's ``trial_will_end``); also
# ``trial_end`` (datetime).
trial_ending = Signal()
# ``payment_failed``: the subscription went past due; also ``past_due_since`` and
# ``grace_until`` (datetimes: the paid plan's limits hold until then).
payment_failed = Signal()
# ``subscription_canceled``: set to end at period end, or ended at once; also ``ends_at``
# (the period's end; None when it ended at once).
subscription_canceled = Signal()
# ``subscription_resumed``: a subscription set to end will renew after all.
subscription_resumed = Signal()


def _now_and_on_commit(callback) -> None:
    callback()
    transaction.on_commit(callback)


@receiver([post_save, post_delete], sender=Plan)
@receiver([post_save, post_delete], sender=Price)
@receiver([post_save, post_delete], sender=PlanLimit)
@receiver([post_save, post_delete], sender=PlanFeature)
@receiver([post_save, post_delete], sender=Feature)
@receiver([post_save, post_delete], sender=BillingSettings)  # the grace period
def catalog_edited(sender, **kwargs) -> None:
    _now_and_on_commit(entitlements.catalog_changed)


@receiver([post_save, post_delete], sender=WorkspaceOverride)
@receiver([post_save, post_delete], sender=Subscription)
def workspace_entitlements_edited(sender, instance, **kwargs) -> None:
    workspace_id = instance.workspace_id
    _now_and_on_commit(
        lambda: entitlements.workspace_entitlements_changed(workspace_id=workspace_id)
    )
