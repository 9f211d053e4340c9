"""Billing's answers to what accounts asks of a workspace's plan (``accounts.plan``),
installed when Django starts (``billing.apps``)."""

from contextlib import AbstractContextManager

from accounts.models import Workspace
from billing import limits, selectors
from billing.limits import LimitCheck
from billing.services import subscription_create_free


class BillingPlanPolicy:
    def limit_enforce(
        self, workspace: Workspace | int, metric: str, amount: int = 1, *, used: int | None = None
    ) -> LimitCheck:
        return limits.limit_enforce(workspace, metric, amount, used=used)

    def paywall_hits_recorded(self, *, user_email: str = "") -> AbstractContextManager[None]:
        return limits.paywall_hits_recorded(user_email=user_email)

    def workspace_plan_start(self, *, workspace: Workspace) -> None:
        subscription_create_free(workspace=workspace)

    def workspace_deletion_blocker(self, *, workspace: Workspace) -> str | None:
        return selectors.workspace_deletion_blocker(workspace=workspace)
