"""seed_demo's year of history: the shape of the freemium base, the conversions replayed
through the local gateway (ledger, reconciliation, dates in the past), buyers that looked
like product-qualified leads before they bought, the leads open after the seeding, and a
second run that adds nothing. The module seeds once."""

import io
import random
from collections import defaultdict
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count, Min, Sum

from accounts.demo import SEED, Segment, workspaces_plan
from accounts.models import Membership, Workspace
from billing.models import Cancellation, RevenueMovement, StripeEvent, Subscription
from billing.stripe.reconcile import stripe_reconcile
from pql.models import OPEN_LEAD_STATUSES, Lead
from tests.billing.conftest import ledger_violations
from tests.seeding import SeedRun, demo_seeded
from usage.models import ProductEvent, ProductEventDaily, UsageDaily, UsageEvent

pytestmark = pytest.mark.django_db

FREE_API_CALLS = 10_000  # the free plan's monthly API calls, as the migrations seed it


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with demo_seeded(django_db_blocker) as run:
        yield run


def _first_purchases() -> dict[int, object]:
    """When each workspace that ever paid first did (its ``new`` movement)."""
    return dict(
        RevenueMovement.objects.filter(kind="new")
        .values("workspace_id")
        .annotate(at=Min("occurred_at"))
        .values_list("workspace_id", "at")
    )


def test_the_base_is_freemium_mostly_free_and_dormant_with_about_a_tenth_buying(
    seeded: SeedRun,
):
    plans = workspaces_plan(rng=random.Random(SEED), now=seeded.started_at)
    segments = {s: sum(p.segment == s for p in plans) for s in vars(Segment).values()}
    assert segments[Segment.DORMANT] > len(plans) / 2
    assert segments[Segment.SOLO_HEAVY] >= 3

    planned = sum(bool(p.story) for p in plans)
    assert 24 <= planned <= 45
    # Those who bought in the last two weeks are in their trial: no revenue yet.
    buyers = _first_purchases()
    assert planned - 5 <= len(buyers) <= planned
    paying = Subscription.objects.exclude(plan__code="free").count()
    assert paying < Workspace.objects.count() / 5
    # Free teams stay within the free plan's three seats (a hard limit).
    free_teams = (
        Membership.objects.filter(workspace__subscription__plan__code="free")
        .exclude(workspace_id__in=list(buyers))
        .values("workspace_id")
        .annotate(n=Count("id"))
    )
    assert max(row["n"] for row in free_teams) <= 3


@pytest.mark.usefixtures("seeded")
def test_every_movement_came_through_the_webhook_path_dated_when_it_happened():
    assert not ledger_violations()
    kinds = dict(
        RevenueMovement.objects.values("kind").annotate(n=Count("id")).values_list("kind", "n")
    )
    assert {"new", "expansion", "contraction", "churn", "reactivation"} <= set(kinds)
    assert not RevenueMovement.objects.filter(stripe_event__isnull=True).exists()
    oldest = RevenueMovement.objects.aggregate(at=Min("occurred_at"))["at"]
    assert oldest < Workspace.objects.aggregate(at=Min("created_at"))["at"] + timedelta(days=150)
    assert not StripeEvent.objects.exclude(status=StripeEvent.Status.PROCESSED).exists()
    # Every churn followed a cancellation with its reason (a recent one may not have ended).
    churned = RevenueMovement.objects.filter(kind="churn").values_list("workspace_id", flat=True)
    cancelled = Cancellation.objects.exclude(reason="").values_list("workspace_id", flat=True)
    assert set(churned) <= set(cancelled)
    for subscription in Subscription.objects.exclude(stripe_subscription_id=""):
        total = RevenueMovement.objects.filter(workspace=subscription.workspace_id).aggregate(
            s=Sum("mrr_delta_cents")
        )["s"]
        assert (total or 0) == subscription.mrr_cents
    assert stripe_reconcile() == []


def test_a_year_of_daily_usage_and_product_events(seeded: SeedRun):
    now = seeded.started_at
    oldest = UsageEvent.objects.order_by("occurred_at").first().occurred_at
    assert now - oldest > timedelta(days=300)
    assert ProductEventDaily.objects.filter(day__lt=(now - timedelta(days=300)).date()).exists()
    assert Workspace.objects.filter(company_domain="").exists()  # personal addresses
    # Most workspaces are dormant: nothing in the last 30 days.
    recent = (now - timedelta(days=30)).date()
    active = ProductEventDaily.objects.filter(day__gte=recent).values("workspace_id").distinct()
    assert active.count() < Workspace.objects.count() / 2


def test_buyers_looked_like_leads_before_buying_and_solo_heavy_users_did_not_buy():
    """In the three weeks before their first purchase, buyers had several people active and
    several people hitting paywalls; people alone at the free API-call limit never bought,
    so "used 80% of a limit" converts worse than "several people hit paywalls"."""
    buyers = _first_purchases()
    hits = defaultdict(list)  # workspace: [(day, person)]
    for workspace_id, day, email in ProductEvent.objects.filter(
        name=ProductEvent.PAYWALL_HIT
    ).values_list("workspace_id", "occurred_at", "user_email"):
        hits[workspace_id].append((day, email))

    def people_before(workspace_id: int, at, days: int = 21) -> set[str]:
        return {e for d, e in hits[workspace_id] if e and at - timedelta(days=days) <= d < at}

    spread = [len(people_before(w, at)) >= 2 for w, at in buyers.items()]
    assert sum(spread) >= 0.75 * len(spread)

    # The naive rule: a month at 80% or more of the free API calls while on the free plan.
    monthly = defaultdict(int)
    for workspace_id, day, value in UsageDaily.objects.filter(metric="api_calls").values_list(
        "workspace_id", "day", "value"
    ):
        if workspace_id not in buyers or day < buyers[workspace_id].date():
            monthly[(workspace_id, day.year, day.month)] += value
    near_limit = {w for (w, _, _), n in monthly.items() if n * 100 >= FREE_API_CALLS * 80}
    solo = set(
        Membership.objects.values("workspace_id")
        .annotate(n=Count("id"))
        .filter(n=1)
        .values_list("workspace_id", flat=True)
    )
    assert len((near_limit & solo) - set(buyers)) >= 3
    several = {
        w for w, rows in hits.items() if any(len(people_before(w, d, 14)) >= 2 for d, _ in rows)
    }

    def converted(workspaces: set[int]) -> float:
        return len(workspaces & set(buyers)) / max(len(workspaces), 1)

    assert converted(several) > converted(near_limit)


def test_the_scoring_at_the_end_opened_upgrade_and_expansion_leads(seeded: SeedRun):
    open_leads = dict(
        Lead.objects.filter(status__in=OPEN_LEAD_STATUSES)
        .values_list("type")
        .annotate(n=Count("id"))
        .values_list("type", "n")
    )
    assert open_leads.get("upgrade", 0) >= 1
    assert open_leads.get("expansion", 0) >= 1
    assert f"Open leads: {sum(open_leads.values())} " in seeded.output


@pytest.mark.usefixtures("seeded")
def test_a_second_run_adds_nothing(settings):
    settings.DEBUG = True
    tables = (UsageEvent, ProductEvent, ProductEventDaily, RevenueMovement, StripeEvent, Lead)
    before = [model.objects.count() for model in tables]

    call_command("seed_demo", stdout=io.StringIO())

    assert [model.objects.count() for model in tables] == before
