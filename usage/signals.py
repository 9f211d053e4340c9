"""What usage does when accounts reports something: when the rows a usage reading counts
change, the cached reading is dropped, now and again once the transaction commits; a
project created is recorded as a product event; an onboarding step completed activates the
workspace when the activation rule names that step. An edited activation rule drops its
cached reading."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from accounts.models import Invitation, Membership, Project
from accounts.services import workspace_activate
from accounts.signals import onboarding_step_completed, project_created
from usage.current import usage_changed
from usage.models import ActivationRule
from usage.selectors import activation_rule, activation_rule_changed
from usage.services import product_event_record

# Sent once an ingestion batch that counted something commits. Arguments: ``workspace_id``
# (int) and ``totals``: for each metric the batch counted, ``(metric_key, period_start,
# used)`` where ``used`` is the metric's total in that period after the batch (the counter
# the batch wrote). A retried batch that counts nothing new sends nothing. The
# notifications app raises usage alerts from it.
usage_recorded = Signal()

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


@receiver(project_created)
def project_created_record(sender, project, actor, **kwargs) -> None:
    product_event_record(
        workspace_id=project.workspace_id,
        name="project_created",
        user_email=actor.email,
        properties={"project_id": project.pk},
    )


@receiver(onboarding_step_completed)
def onboarding_step_activate(sender, workspace, step, at, **kwargs) -> None:
    if activation_rule().matches_step(step):
        workspace_activate(workspace_id=workspace.pk, now=at)


@receiver([post_save, post_delete], sender=ActivationRule)
def activation_rule_edited(sender, **kwargs) -> None:
    activation_rule_changed()
    transaction.on_commit(activation_rule_changed)
