"""Notifications received from accounts: when the rows a usage reading counts change, drop
the cached reading, now and again once the transaction commits; a project created is
recorded as a product event."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Invitation, Membership, Project
from accounts.signals import project_created
from usage.current import usage_changed
from usage.services import product_event_record

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
