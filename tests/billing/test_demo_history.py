"""seed_demo's year of history: the shape of the freemium base, the conversions replayed
through the local gateway (ledger, reconciliation, dates in the past), and a second run
that adds nothing. One seeding serves every check (it is the slow part)."""

import io
import random
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.demo import SEED, Segment, workspaces_plan
from accounts.models import Workspace
from billing.models import Cancellation, RevenueMovement, StripeEvent, Subscription
from billing.stripe.reconcile import stripe_reconcile
from tests.billing.conftest import ledger_violations
from usage.models import ProductEvent, ProductEventDaily, UsageEvent

pytestmark = pytest.mark.django_db


def test_seed_demo_records_a_year_of_history_and_conversions_and_a_rerun_adds_nothing(
    settings,
):
    settings.DEBUG = True
    started = time.monotonic()
    call_command("seed_demo", stdout=io.StringIO())
    print(f"seed_demo on PostgreSQL: {time.monotonic() - started:.1f} s")  # reported only
    now = timezone.now()

    plans = workspaces_plan(rng=random.Random(SEED), now=now)
    segments = {s: sum(p.segment == s for p in plans) for s in vars(Segment).values()}
    converted = sum(bool(p.story) for p in plans)
    # Shape: dormant is the largest free segment; a minority bought.
    assert segments[Segment.DORMANT] > segments[Segment.STEADY]
    assert segments[Segment.SOLO_HEAVY] > 0
    assert 0 < converted < len(plans) / 2

    # Every movement through the webhook path, dated in the past; the ledger holds.
    assert not ledger_violations()
    kinds = dict(
        RevenueMovement.objects.values("kind").annotate(n=Count("id")).values_list("kind", "n")
    )
    assert {"new", "expansion", "contraction", "churn", "reactivation"} <= set(kinds)
    assert not RevenueMovement.objects.filter(stripe_event__isnull=True).exists()
    assert RevenueMovement.objects.filter(occurred_at__lt=now - timedelta(days=90)).exists()
    assert not StripeEvent.objects.exclude(status=StripeEvent.Status.PROCESSED).exists()
    assert Cancellation.objects.exclude(reason="").count() == kinds["churn"]
    for subscription in Subscription.objects.exclude(stripe_subscription_id=""):
        total = RevenueMovement.objects.filter(workspace=subscription.workspace_id).aggregate(
            s=Sum("mrr_delta_cents")
        )["s"]
        assert (total or 0) == subscription.mrr_cents
    assert stripe_reconcile() == []

    # A year of history, and paywall hits by several people in growing workspaces.
    oldest = UsageEvent.objects.order_by("occurred_at").first().occurred_at
    assert now - oldest > timedelta(days=300)
    hitters = (
        ProductEvent.objects.filter(name=ProductEvent.PAYWALL_HIT)
        .values("workspace_id")
        .annotate(people=Count("user_email", distinct=True))
    )
    assert any(row["people"] >= 2 for row in hitters)
    assert Workspace.objects.filter(company_domain="").exists()  # personal addresses

    before = (
        UsageEvent.objects.count(),
        ProductEvent.objects.count(),
        ProductEventDaily.objects.count(),
        RevenueMovement.objects.count(),
        StripeEvent.objects.count(),
    )
    call_command("seed_demo", stdout=io.StringIO())
    after = (
        UsageEvent.objects.count(),
        ProductEvent.objects.count(),
        ProductEventDaily.objects.count(),
        RevenueMovement.objects.count(),
        StripeEvent.objects.count(),
    )
    assert after == before
