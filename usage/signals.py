"""Notifications outward: when the rows a usage reading counts change, drop the cached
reading, now and again once the transaction commits."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Invitation, Membership, Project
from usage.limits import usage_changed
from usage.models import ActivationRule
from usage.selectors import activation_rule_changed

METRIC_OF = {Membership: "seats", Invitation: "seats", Project: "projects"}


@receiver([post_save, post_delete], sender=Membership)
@receiver([post_save, post_delete], sender=Invitation)
@receiver([post_save, post_delete], sender=Project)
def counted_rows_changed(sender, instance, **kwargs) -> None:
    workspace_id, metric = instance.workspace_id, METRIC_OF[sender]

    def drop() -> None:
        usage_changed(workspace_id=workspace_id, metric=metric)

    drop()
    transaction.on_commit(drop)


@receiver([post_save, post_delete], sender=ActivationRule)
def activation_rule_edited(sender, **kwargs) -> None:
    activation_rule_changed()
    transaction.on_commit(activation_rule_changed)
