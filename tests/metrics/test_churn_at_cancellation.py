"""Churn counted at cancellation on a varied ledger: every churn is dated by the definition
("the newest request not resumed, asked for after the workspace's latest start before the
churn and no later than it"), worked out here row by row in Python from the same rows, and
the monthly figures move the churned MRR to the request's month."""

from collections import defaultdict
from datetime import date

import pytest
from django.db import connection, transaction

from billing.models import Cancellation, RevenueMovement
from metrics import selectors
from metrics.selectors import STARTS, Money, Period
from tests.metrics.conftest import Ledger, at, paying, set_metrics, signed_up

pytestmark = pytest.mark.django_db

USD = Money(currency="usd")
YEAR = Period(first=date(2025, 1, 1), last=date(2025, 12, 1))


def varied_ledgers() -> None:
    # Asks in February, churns at the March period end.
    paying("Plain", at(2025, 1, 5), 3000).cancel(at(2025, 2, 20)).move(
        "churn", -3000, at(2025, 3, 5)
    )
    # Asks, resumes, asks again: the second request dates the churn.
    twice = paying("Twice", at(2025, 1, 5), 5000).cancel(at(2025, 2, 1))
    Cancellation.objects.filter(workspace=twice.workspace).update(resumed_at=at(2025, 2, 3))
    twice.cancel(at(2025, 3, 28)).move("churn", -5000, at(2025, 4, 5))
    # Only a resumed request: the churn stays at its own date.
    resumed = paying("Resumed", at(2025, 1, 5), 2000).cancel(at(2025, 4, 2))
    Cancellation.objects.filter(workspace=resumed.workspace).update(resumed_at=at(2025, 4, 3))
    resumed.move("churn", -2000, at(2025, 5, 5))
    # Churns (asked in March), returns in June, churns again without asking: the March
    # request belongs to the first cycle only.
    cycles = paying("Cycles", at(2025, 1, 5), 4000).cancel(at(2025, 3, 10))
    cycles.move("churn", -4000, at(2025, 4, 5)).move("reactivation", 4000, at(2025, 6, 1))
    cycles.move("expansion", 1000, at(2025, 7, 1)).move("churn", -5000, at(2025, 9, 5))
    # A request asked exactly at the churn counts; one exactly at the start does not.
    exact = paying("Exact", at(2025, 2, 1), 1500).cancel(at(2025, 2, 1))
    exact.cancel(at(2025, 8, 5)).move("churn", -1500, at(2025, 8, 5))
    # Subscribes and asks in one month, churns the next (same-month pair only when moved).
    Ledger(signed_up("Quick", at(2025, 10, 1))).move("new", 900, at(2025, 10, 2)).cancel(
        at(2025, 10, 20)
    ).move("churn", -900, at(2025, 11, 2))
    # Never churns, asks then resumes.
    steady = paying("Steady", at(2024, 6, 1), 10000).cancel(at(2025, 5, 5))
    Cancellation.objects.filter(workspace=steady.workspace).update(resumed_at=at(2025, 5, 6))


def dated_by_definition() -> dict[int, object]:
    """Each movement's counted date, worked out row by row in Python."""
    requests = defaultdict(list)
    for request in Cancellation.objects.filter(resumed_at__isnull=True):
        requests[request.workspace_id].append(request.requested_at)
    dated = {}
    for movement in RevenueMovement.objects.order_by("occurred_at", "id"):
        dated[movement.pk] = movement.occurred_at
        if movement.kind != "churn":
            continue
        earlier_starts = RevenueMovement.objects.filter(
            workspace_id=movement.workspace_id,
            kind__in=STARTS,
            occurred_at__lt=movement.occurred_at,
        ).values_list("occurred_at", flat=True)
        last_start = max(earlier_starts)
        asked = [
            t for t in requests[movement.workspace_id] if last_start < t <= movement.occurred_at
        ]
        if asked:
            dated[movement.pk] = max(asked)
    return dated


def test_every_churn_is_dated_at_its_request_as_the_definition_says():
    varied_ledgers()
    settings = set_metrics(churn_counted_at="cancellation", count_same_month_cancel=True)
    counted = selectors.counted_movements(settings, exclude_same_month=False)

    assert {m.pk: m.effective_at for m in counted} == dated_by_definition()
    assert dated_by_definition() != {m.pk: m.occurred_at for m in RevenueMovement.objects.all()}


@pytest.mark.parametrize("same_month_counts", [True, False])
def test_monthly_churn_at_cancellation_adds_up_the_churns_by_their_request_month(
    same_month_counts,
):
    varied_ledgers()
    settings = set_metrics(
        churn_counted_at="cancellation", count_same_month_cancel=same_month_counts
    )
    dated = dated_by_definition()
    expected = defaultdict(int)
    for movement in RevenueMovement.objects.filter(kind="churn"):
        when = dated[movement.pk]
        quick = movement.workspace.name == "Quick"  # new and churn both in October if moved
        if quick and not same_month_counts:
            continue
        expected[date(when.year, when.month, 1)] += movement.mrr_delta_cents

    months = selectors.revenue(period=YEAR, money=USD, settings=settings).months

    assert {m.month: m.cents["churn"] for m in months if m.cents["churn"]} == expected
    assert months[-1].customers_end == 1  # only Steady still pays


def test_revenue_leaves_the_connections_jit_setting_as_it_was():
    varied_ledgers()
    settings = set_metrics(churn_counted_at="cancellation")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jit', 'on', true)")
        selectors.revenue(period=YEAR, money=USD, settings=settings)
        cursor.execute("SELECT current_setting('jit')")
        assert cursor.fetchone() == ("on",)
