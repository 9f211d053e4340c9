"""Notifications outward. Accounts sends ``project_created`` (usage records it as a product
event); when the activation rule is edited, its cached reading is dropped, now and again
once the transaction commits."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from accounts.models import ActivationRule
from accounts.selectors import activation_rule_changed

# A member created a project (``project``, by ``actor``), after the creating transaction.
project_created = Signal()


@receiver([post_save, post_delete], sender=ActivationRule)
def activation_rule_edited(sender, **kwargs) -> None:
    activation_rule_changed()
    transaction.on_commit(activation_rule_changed)
