"""Demo usage from seed_demo: consistent with its own events, the rollups scoring reads
computed as the ingestion path keeps them, and seeded once. The module seeds once."""

import io
from collections import Counter, defaultdict
from datetime import UTC

import pytest
from django.core.management import call_command
from django.db.models import Sum

from tests.seeding import demo_seeded
from usage.models import (
    ActivePersonDay,
    ProductEvent,
    ProductEventDaily,
    UsageCounter,
    UsageDaily,
    UsageEvent,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with demo_seeded(django_db_blocker) as run:
        yield run


@pytest.mark.usefixtures("seeded")
def test_demo_counters_and_rollups_equal_their_events():
    assert UsageEvent.objects.exists()
    assert ProductEvent.objects.exclude(user_email="").exists()
    for counter in UsageCounter.objects.filter(metric="api_calls"):
        events = UsageEvent.objects.filter(
            workspace_id=counter.workspace_id,
            metric="api_calls",
            occurred_at__gte=counter.period_start,
        )
        assert counter.value == events.aggregate(s=Sum("quantity"))["s"]
    daily_total = UsageDaily.objects.filter(metric="api_calls").aggregate(s=Sum("value"))["s"]
    event_total = UsageEvent.objects.filter(metric="api_calls").aggregate(s=Sum("quantity"))["s"]
    assert daily_total == event_total
    assert UsageDaily.objects.filter(metric="api_calls").count() == (
        UsageEvent.objects.filter(metric="api_calls").count()
    )


@pytest.mark.usefixtures("seeded")
def test_product_event_rollups_and_active_people_are_those_of_the_events():
    """What ``usage.rollups`` keeps for every stored event: per workspace, name and UTC day,
    the events, the distinct people (lower-cased) and the latest time."""
    counts, latest = Counter(), {}
    people = defaultdict(set)
    for workspace_id, name, email, at in ProductEvent.objects.values_list(
        "workspace_id", "name", "user_email", "occurred_at"
    ):
        key = (workspace_id, name, at.astimezone(UTC).date())
        counts[key] += 1
        latest[key] = max(latest.get(key, at), at)
        if email:
            people[key].add(email.lower())
    rollups = {
        (row.workspace_id, row.name, row.day): (row.events, row.people, row.last_at)
        for row in ProductEventDaily.objects.all()
    }
    assert rollups == {key: (n, len(people[key]), latest[key]) for key, n in counts.items()}
    assert ActivePersonDay.objects.count() == sum(len(p) for p in people.values())


@pytest.mark.usefixtures("seeded")
def test_a_second_run_adds_no_usage(settings):
    settings.DEBUG = True
    tables = (UsageEvent, UsageCounter, UsageDaily, ProductEvent, ProductEventDaily)
    before = [model.objects.count() for model in tables]

    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    assert "days of usage" not in out.getvalue()
    assert [model.objects.count() for model in tables] == before
