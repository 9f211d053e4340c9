"""What accounts asks of the plan a workspace is on, without importing billing.

Accounts is the lowest layer (README, "Architecture"), yet a few of its writes depend on
the plan: a membership or a pending invitation uses a seat, a project counts against the
projects limit, a new workspace starts on the default free plan, and a workspace that still
pays cannot be deleted. Billing owns those answers. Accounts declares the questions here
(``PlanPolicy``) and asks them through ``plan_policy()``; billing installs its answer when
Django starts (``billing.apps``), so the import points down, from billing to accounts.
"""

from contextlib import AbstractContextManager
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from accounts.models import Workspace


class PlanPolicy(Protocol):
    def limit_enforce(
        self, workspace: Workspace | int, metric: str, amount: int = 1, *, used: int | None = None
    ) -> object:
        """Refuse (raise an ``ApplicationError`` with status 402) a change that would take the
        workspace past its plan's limit of ``metric``. Called under the workspace lock."""

    def paywall_hits_recorded(self, *, user_email: str = "") -> AbstractContextManager[None]:
        """Wraps a write whose refusal by ``limit_enforce`` is recorded as an upgrade
        moment (the refused change rolls back; the record stays)."""

    def workspace_plan_start(self, *, workspace: Workspace) -> None:
        """Put a new workspace on the default free plan."""

    def workspace_deletion_blocker(self, *, workspace: Workspace) -> str | None:
        """Why the workspace may not be deleted now (it still pays), or None."""


_policy: PlanPolicy | None = None


def plan_policy_install(policy: PlanPolicy) -> None:
    global _policy
    _policy = policy


def plan_policy() -> PlanPolicy:
    if _policy is None:
        raise ImproperlyConfigured(
            "No plan policy is installed: the billing app installs one when Django starts."
        )
    return _policy
