"""``manage.py ledger_verify`` recomputes every workspace's movements from the stored Stripe
events, in a few set-based queries whatever the number of workspaces, and exits non-zero
naming each difference."""

import io
import random

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import RevenueMovement, StripeEvent
from billing.stripe.verify import ledger_verify
from tests.billing.stripe.test_ordering import life_across_five_months
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def lived_workspaces(count, customer_for, deliver):
    """``count`` workspaces, each through five months of changes delivered shuffled."""
    workspaces = []
    for index in range(count):
        workspace = WorkspaceFactory(
            name=f"Verify {index}", created_by=UserFactory(email=f"v{index}@example.com")
        )
        stripe = customer_for(workspace)
        life_across_five_months(stripe)
        deliveries = list(stripe.events)
        random.Random(index).shuffle(deliveries)
        deliver(*deliveries)
        workspaces.append(workspace)
    return workspaces


def test_a_clean_ledger_has_no_difference(customer_for, deliver):
    lived_workspaces(2, customer_for, deliver)
    out = io.StringIO()

    call_command("ledger_verify", stdout=out)

    assert out.getvalue().strip() == "the revenue ledger agrees with its history"
    assert RevenueMovement.objects.count() >= 10


def test_the_queries_do_not_grow_with_the_workspaces(customer_for, deliver):
    lived_workspaces(1, customer_for, deliver)
    with CaptureQueriesContext(connection) as one:
        assert ledger_verify() == []
    lived_workspaces(2, customer_for, deliver)

    with CaptureQueriesContext(connection) as three:
        assert ledger_verify() == []

    assert len(three.captured_queries) == len(one.captured_queries) <= 8


def test_a_tampered_movement_is_reported_and_the_command_fails(customer_for, deliver):
    workspaces = lived_workspaces(2, customer_for, deliver)
    movement = RevenueMovement.objects.filter(workspace=workspaces[1], kind="expansion").first()
    RevenueMovement.objects.filter(pk=movement.pk).update(
        mrr_delta_cents=movement.mrr_delta_cents + 100
    )
    out = io.StringIO()

    with pytest.raises(CommandError, match="differences in the revenue ledger"):
        call_command("ledger_verify", stdout=out)

    lines = out.getvalue().splitlines()
    at = movement.occurred_at.isoformat()
    assert (
        f"workspace {workspaces[1].pk}: expansion at {at} is {movement.mrr_delta_cents + 100} "
        f"usd, its history says {movement.mrr_delta_cents}"
    ) in lines
    assert all(f"workspace {workspaces[0].pk}:" not in line for line in lines)
    RevenueMovement.objects.filter(pk=movement.pk).update(mrr_delta_cents=movement.mrr_delta_cents)


def test_the_command_exits_with_status_1_on_a_difference(customer_for, deliver):
    (workspace,) = lived_workspaces(1, customer_for, deliver)
    movement = RevenueMovement.objects.filter(workspace=workspace).first()
    RevenueMovement.objects.filter(pk=movement.pk).update(
        mrr_delta_cents=movement.mrr_delta_cents - 1
    )

    with pytest.raises(CommandError) as failure:  # manage.py exits with its returncode
        call_command("ledger_verify", stdout=io.StringIO())

    assert failure.value.returncode == 1
    RevenueMovement.objects.filter(pk=movement.pk).update(mrr_delta_cents=movement.mrr_delta_cents)


def test_an_event_whose_stored_payload_was_altered_is_reported(customer_for, deliver):
    (workspace,) = lived_workspaces(1, customer_for, deliver)
    event = StripeEvent.objects.get(
        revenue_state__workspace=workspace, revenue_state__mrr_cents=10_800
    )
    payload = event.payload
    payload["data"]["object"]["items"]["data"][0]["quantity"] = 10
    StripeEvent.objects.filter(pk=event.pk).update(payload=payload)

    problems = ledger_verify()

    assert f"event {event.stripe_id}: its subscription is worth 12000, the ledger holds 10800" in (
        problems
    )
    assert any(line.startswith(f"workspace {workspace.pk}: expansion at") for line in problems)
