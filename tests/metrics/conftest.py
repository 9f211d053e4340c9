"""Fixtures of the growth metrics' tests: people in each role, workspaces signed up on a
given day, and hand-written ledgers.

The metrics read the revenue ledger's rows and nothing else of billing's state machine, so the
scenarios write ``RevenueMovement`` rows as the ledger records them (kind, MRR change, MRR
after, currency, when), the exact input every figure is hand-computed from. Workspaces,
invitations, leads and activation go through their own services.
"""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group

from accounts.models import Workspace
from accounts.roles import BILLING_ADMINS, SALES, SALES_MANAGERS
from billing.models import Cancellation, RevenueMovement, Subscription
from metrics.models import MetricsSettings
from pql.scoring import Component, ScoreResult
from pql.services import leads_sync, scoring_model_published
from tests.factories import UserFactory, WorkspaceFactory


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def staff(email: str, *groups: str, superuser: bool = False):
    user = UserFactory(email=email, is_staff=True, is_superuser=superuser)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


def signed_up(name: str, when: datetime, *, activated: datetime | None = None) -> Workspace:
    """A workspace made by ``workspace_create``, dated as if it signed up ``when``."""
    workspace = WorkspaceFactory(name=name)
    Workspace.objects.filter(pk=workspace.pk).update(created_at=when, activated_at=activated)
    workspace.refresh_from_db()
    return workspace


class Ledger:
    """Writes a workspace's movements in order, keeping its MRR after each."""

    def __init__(self, workspace: Workspace, currency: str = "usd") -> None:
        self.workspace = workspace
        self.currency = currency
        self.mrr = 0
        self.subscription = Subscription.objects.get(workspace=workspace)
        Subscription.objects.filter(pk=self.subscription.pk).update(currency=currency)

    def move(self, kind: str, delta: int, when: datetime) -> "Ledger":
        self.mrr += delta
        RevenueMovement.objects.create(
            workspace=self.workspace,
            subscription=self.subscription,
            kind=kind,
            mrr_delta_cents=delta,
            mrr_after_cents=self.mrr,
            currency=self.currency,
            occurred_at=when,
            plan_code="pro",
        )
        Subscription.objects.filter(pk=self.subscription.pk).update(mrr_cents=self.mrr)
        return self

    def cancel(self, when: datetime, reason: str = "too_expensive", comment: str = "") -> "Ledger":
        Cancellation.objects.create(
            workspace=self.workspace,
            subscription=self.subscription,
            reason=reason,
            comment=comment,
            requested_at=when,
        )
        return self


def paying(name: str, when: datetime, mrr: int, *, currency: str = "usd") -> Ledger:
    """A workspace that signed up and started paying ``mrr`` on ``when``."""
    return Ledger(signed_up(name, when), currency).move("new", mrr, when)


REASONS = (Component("usage_share", "engagement", 92, 20, "uses 92% of 10,000 API calls"),)


def open_lead(workspace: Workspace, *, when: datetime, lead_type: str = "upgrade") -> None:
    """A PQL opened for the workspace the way the scoring job opens one."""
    leads_sync(
        results={workspace.pk: ScoreResult(60, 70, True, lead_type, REASONS, idle_days=1)},
        mrr={workspace.pk: 0},
        now=when,
        model=scoring_model_published(),
    )


def set_metrics(**values) -> MetricsSettings:
    MetricsSettings.objects.filter(pk=1).update(**values)
    return MetricsSettings.objects.get(pk=1)


@pytest.fixture
def billing_admin(db):
    return staff("billing@handoff.test", BILLING_ADMINS)


@pytest.fixture
def rep(db):
    return staff("rep@handoff.test", SALES)


@pytest.fixture
def manager(db):
    return staff("manager@handoff.test", SALES, SALES_MANAGERS)
