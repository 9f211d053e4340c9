"""The workspace's usage page: bars, history chart, upgrade prompts, active people."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as accounts_services
from billing.entitlements import workspace_entitlements
from billing.limits import upgrade_url_for
from usage.ingestion import usage_batch_parse, usage_events_ingest
from usage.selectors import active_users, metric_definitions
from usage.services import product_events_ingest

pytestmark = pytest.mark.django_db


def _report(workspace, *events):
    """Ingest (metric, quantity, days ago) tuples through the real ingestion service."""
    now = timezone.now()
    payload = {
        "events": [
            {
                "metric": metric,
                "quantity": quantity,
                "idempotency_key": f"{metric}-{n}",
                "timestamp": (now - timedelta(days=days_ago, seconds=5)).isoformat(),
            }
            for n, (metric, quantity, days_ago) in enumerate(events)
        ]
    }
    parsed = usage_batch_parse(payload, metrics=metric_definitions(), now=now)
    return usage_events_ingest(
        workspace=workspace,
        events=parsed,
        limits=workspace_entitlements(workspace_id=workspace.pk, now=now),
        upgrade_url=upgrade_url_for(workspace),
        now=now,
    )


def _row(page, key):
    return next(row for row in page.context["rows"] if row.metric.key == key)


def test_every_metric_shows_used_of_limit_with_its_reset(owner_client, workspace):
    _report(workspace, ("api_calls", 1_200, 0))

    page = owner_client.get(f"/w/{workspace.slug}/usage/")

    assert page.status_code == 200
    api = _row(page, "api_calls")
    assert (api.used, api.limit, api.percent, api.status) == (1_200, 10_000, 12, "ok")
    assert api.resets_on.day == 1
    assert "1,200</strong> of 10,000 calls (12%)" in page.text
    assert {row.metric.key for row in page.context["rows"]} == {
        "api_calls",
        "storage_mb",
        "seats",
        "projects",
    }
    assert "does not reset" in page.text  # seats, projects, storage


def test_the_chart_draws_thirty_days_of_history_offline(owner_client, workspace):
    # Storage never resets, so yesterday's reading is valid on any day of the month.
    _report(workspace, ("storage_mb", 100, 0), ("storage_mb", 300, 1))

    page = owner_client.get(f"/w/{workspace.slug}/usage/")

    storage = _row(page, "storage_mb")
    assert len(storage.bars) == 30
    assert [bar.value for bar in storage.bars[-2:]] == [300, 100]
    assert storage.bars[-2].height > storage.bars[-1].height > 0
    assert storage.used == 100  # the last value
    assert page.text.count("<rect") == 60  # api_calls and storage_mb, 30 bars each
    assert "<script" not in page.text.split("<main")[1]


def test_an_upgrade_prompt_shows_at_80_percent(owner_client, workspace):
    _report(workspace, ("api_calls", 8_500, 0))

    page = owner_client.get(f"/w/{workspace.slug}/usage/")

    assert _row(page, "api_calls").status == "near_limit"
    assert "You have used 85% of your api calls. Pro raises the limit" in page.text


def test_a_reached_limit_says_so_and_names_the_plan_that_lifts_it(owner_client, workspace):
    _report(workspace, ("api_calls", 10_000, 0))

    page = owner_client.get(f"/w/{workspace.slug}/usage/")

    assert _row(page, "api_calls").status == "at_limit"
    assert "Limit reached." in page.text
    assert "Upgrade to Pro" in page.text


def test_members_see_the_usage_page(client, workspace, member_user):
    client.force_login(member_user)

    assert client.get(f"/w/{workspace.slug}/usage/").status_code == 200


def test_active_people_count_distinct_users_of_product_events(owner_client, workspace):
    now = timezone.now()

    def sent(n, email, hours_ago):
        return {
            "index": n,
            "name": "report_exported",
            "user_email": email,
            "properties": {},
            "idempotency_key": f"e{n}",
            "occurred_at": now - timedelta(hours=hours_ago),
        }

    product_events_ingest(
        workspace_id=workspace.pk,
        events=[
            sent(0, "a@x.io", 1),
            sent(1, "a@x.io", 2),
            sent(2, "b@x.io", 30),
            sent(3, "c@x.io", 24 * 40),
        ],
    )

    active = active_users(workspace_id=workspace.pk, now=now)
    page = owner_client.get(f"/w/{workspace.slug}/usage/")

    assert (active.daily, active.monthly, active.stickiness_percent) == (1, 2, 50)
    assert "stickiness (DAU/MAU) 50%" in page.text


def test_usage_page_query_budget(owner_client, workspace, django_assert_max_num_queries):
    _report(workspace, ("api_calls", 10, 0))
    accounts_services.project_create(workspace=workspace, name="p", actor=workspace.created_by)
    owner_client.get(f"/w/{workspace.slug}/usage/")  # warm the caches

    with django_assert_max_num_queries(10):
        assert owner_client.get(f"/w/{workspace.slug}/usage/").status_code == 200
