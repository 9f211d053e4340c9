"""What pql does when billing reports an upgrade: it queues a task that closes the
workspace's open lead as won. A receiver only queues: ``workspace_upgraded`` is sent with
``robust=True``, which would swallow an exception raised here, and every scoring run also
closes the open leads of workspaces that now pay more, so a lost message is repaired."""

from django.dispatch import receiver

from billing.signals import workspace_plan_set, workspace_upgraded
from pql.models import Lead
from pql.tasks import lead_close_won_task


@receiver(workspace_upgraded)
def lead_close_on_self_serve_upgrade(sender, workspace_id: int, **kwargs) -> None:
    lead_close_won_task.delay(workspace_id, Lead.WonVia.SELF_SERVE)


@receiver(workspace_plan_set)
def lead_close_on_sales_plan(sender, workspace_id: int, upgraded: bool, **kwargs) -> None:
    if upgraded:
        lead_close_won_task.delay(workspace_id, Lead.WonVia.SALES)
