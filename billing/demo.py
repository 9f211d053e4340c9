"""Billing's part of the demo data (``manage.py seed_demo``): the demo workspaces'
subscriptions, and Acme Analytics on Pro."""

from collections.abc import Sequence

from accounts.demo import PlannedWorkspace
from accounts.models import Workspace
from billing import services
from billing.models import Plan, Subscription


def acme_plan_seed(workspace: Workspace) -> None:
    """Acme Analytics, the demo owner's workspace, is on Pro (set as sales would)."""
    services.subscription_set_plan(
        workspace=workspace, plan=Plan.objects.get(code="pro"), actor=None, reason="demo data"
    )


def subscriptions_seed(created: Sequence[tuple[Workspace, PlannedWorkspace]]) -> None:
    """The subscriptions of bulk-inserted demo workspaces: each on its planned plan, with a
    seat per member."""
    plan_ids = dict(Plan.objects.values_list("code", "pk"))
    Subscription.objects.bulk_create(
        Subscription(
            workspace=workspace,
            plan_id=plan_ids[plan.plan_code],
            seats=len(plan.members),
            created_at=plan.created_at,
        )
        for workspace, plan in created
    )
