"""Fixtures of the sales queue's tests: people in each role, and leads opened the way the
scoring job opens them (``leads_sync``)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.roles import BILLING_ADMINS, SALES, SALES_MANAGERS
from pql.models import Lead
from pql.scoring import Component, ScoreResult
from pql.services import leads_sync, scoring_model_published
from tests.factories import UserFactory, WorkspaceFactory

# A Monday, 9:00 UTC: the start of the default working week.
MONDAY = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
REASONS = (
    Component("usage_share", "engagement", 92, 20, "uses 92% of 10,000 API calls"),
    Component("company_domain", "fit", "company", 35, "company e-mail domain northwind.io"),
    Component("active_people_7d", "engagement", 5, 15, "5 active people in the last 7 days"),
)


def staff(email: str, *groups: str, superuser: bool = False):
    user = UserFactory(email=email, is_staff=True, is_superuser=superuser)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


def open_leads(names, *, engagement=70, fit=60, lead_type="upgrade", days_ago=1):
    """One open lead per workspace name, opened ``days_ago`` days ago."""
    ids = [WorkspaceFactory(name=name).pk for name in names]
    results = {
        wid: ScoreResult(fit, engagement, True, lead_type, REASONS, idle_days=1) for wid in ids
    }
    leads_sync(
        results=results,
        mrr=dict.fromkeys(ids, 0),
        now=timezone.now() - timedelta(days=days_ago),
        model=scoring_model_published(),
    )
    return list(Lead.objects.filter(workspace_id__in=ids).order_by("id"))


@pytest.fixture
def rep(db):
    return staff("rep@handoff.test", SALES)


@pytest.fixture
def rep2(db):
    return staff("rep2@handoff.test", SALES)


@pytest.fixture
def manager(db):
    return staff("manager@handoff.test", SALES, SALES_MANAGERS)


@pytest.fixture
def billing_admin(db):
    return staff("billing@handoff.test", BILLING_ADMINS)


@pytest.fixture
def superuser(db):
    return staff("root@handoff.test", superuser=True)


@pytest.fixture
def lead(db):
    return open_leads(["Northwind"])[0]


def leads_open(count: int, *, now: datetime = MONDAY, engagement=None, prefix="Lead co") -> list:
    """``count`` workspaces become PQLs and get their leads, as a scoring run opens them."""
    workspaces = [WorkspaceFactory(name=f"{prefix} {i}") for i in range(count)]
    results = {
        w.pk: ScoreResult(
            70, engagement(i) if engagement else 80, True, "upgrade", REASONS, idle_days=1
        )
        for i, w in enumerate(workspaces)
    }
    leads_sync(results=results, mrr={}, now=now, model=scoring_model_published())
    return list(Lead.objects.filter(workspace__in=workspaces).order_by("workspace_id"))
