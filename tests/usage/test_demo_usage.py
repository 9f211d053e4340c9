"""Demo usage from seed_demo: consistent with its own events, and seeded once."""

import io

import pytest
from django.core.management import call_command
from django.db.models import Sum

from usage.models import ProductEvent, UsageCounter, UsageDaily, UsageEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())


def test_demo_counters_and_rollups_equal_their_events(seeded):
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


def test_a_second_run_adds_no_usage(seeded):
    before = (UsageEvent.objects.count(), ProductEvent.objects.count(), UsageDaily.objects.count())

    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    assert "days of usage" not in out.getvalue()
    after = (UsageEvent.objects.count(), ProductEvent.objects.count(), UsageDaily.objects.count())
    assert after == before
