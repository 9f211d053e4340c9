"""Notifications outward: a catalog, override or subscription change drops the cached
entitlements it affects, now and again once the transaction commits (a reader may have
rebuilt the cache from the old rows in between)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from billing import entitlements
from billing.models import (
    Feature,
    Plan,
    PlanFeature,
    PlanLimit,
    Price,
    Subscription,
    WorkspaceOverride,
)


def _now_and_on_commit(callback) -> None:
    callback()
    transaction.on_commit(callback)


@receiver([post_save, post_delete], sender=Plan)
@receiver([post_save, post_delete], sender=Price)
@receiver([post_save, post_delete], sender=PlanLimit)
@receiver([post_save, post_delete], sender=PlanFeature)
@receiver([post_save, post_delete], sender=Feature)
def catalog_edited(sender, **kwargs) -> None:
    _now_and_on_commit(entitlements.catalog_changed)


@receiver([post_save, post_delete], sender=WorkspaceOverride)
@receiver([post_save, post_delete], sender=Subscription)
def workspace_entitlements_edited(sender, instance, **kwargs) -> None:
    workspace_id = instance.workspace_id
    _now_and_on_commit(
        lambda: entitlements.workspace_entitlements_changed(workspace_id=workspace_id)
    )
