"""Billing's events reach the endpoints that picked them: a workspace upgraded, expansion
and churn from the revenue ledger; a contraction goes nowhere."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from billing.ledger import revenue_state_record
from billing.models import Subscription
from billing.signals import workspace_upgraded
from outbound import services
from tests.factories import WorkspaceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed")]

WHEN = datetime(2025, 3, 10, 12, tzinfo=UTC)


def _mrr(workspace, cents: int, *, day: int) -> None:
    """The workspace's Stripe subscription is worth ``cents`` a month from ``day`` days after
    WHEN (the ledger appends the movement)."""
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(workspace=workspace)
        revenue_state_record(
            subscription=subscription,
            stripe_subscription_id="sub_northwind",
            started_at=WHEN,
            at=WHEN + timedelta(days=day),
            live=cents > 0,
            mrr_cents=cents,
            currency="usd",
            plan_code="pro",
            stripe_event=None,
        )


def test_expansion_and_churn_are_delivered_and_other_movements_are_not(
    manager, receiver, django_capture_on_commit_callbacks
):
    _, receiver.secret = services.endpoint_create(
        actor=manager, url=receiver.url, event_types=["revenue.expansion", "revenue.churn"]
    )
    workspace = WorkspaceFactory(name="Northwind")

    with django_capture_on_commit_callbacks(execute=True):
        _mrr(workspace, 5_000, day=0)  # new
        _mrr(workspace, 8_000, day=1)  # expansion
        _mrr(workspace, 6_000, day=2)  # contraction
        _mrr(workspace, 0, day=3)  # churn

    expansion, churn = (request.json for request in receiver.received)
    assert expansion["type"] == "revenue.expansion"
    assert expansion["data"]["workspace"]["name"] == "Northwind"
    assert (expansion["data"]["mrr_delta_cents"], expansion["data"]["mrr_after_cents"]) == (
        3_000,
        8_000,
    )
    assert expansion["data"]["corrects_movement_id"] is None
    assert churn["type"] == "revenue.churn"
    assert churn["data"]["mrr_delta_cents"] == -6_000
    assert all(request.signature_ok for request in receiver.received)


def test_a_workspace_upgrade_is_delivered(manager, receiver, django_capture_on_commit_callbacks):
    _, receiver.secret = services.endpoint_create(
        actor=manager, url=receiver.url, event_types=["workspace.upgraded"]
    )
    workspace = WorkspaceFactory(name="Globex")

    with django_capture_on_commit_callbacks(execute=True):
        workspace_upgraded.send(
            sender=Subscription,
            workspace_id=workspace.pk,
            plan_code="pro",
            mrr_delta_cents=2_900,
            stripe_event_id="evt_stripe_1",
        )

    (request,) = receiver.received
    assert request.json["type"] == "workspace.upgraded"
    assert request.json["data"] == {
        "workspace": {"id": workspace.pk, "name": "Globex", "slug": workspace.slug},
        "plan_code": "pro",
        "mrr_delta_cents": 2_900,
    }
