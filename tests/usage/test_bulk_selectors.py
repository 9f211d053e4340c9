"""The product-event rollups (written with the events, backfilled by a migration) and the
usage selectors that read every workspace of a primary-key range at once."""

import importlib
import threading
from datetime import UTC, timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from accounts import services as accounts_services
from billing.entitlements import workspace_entitlements
from billing.limits import upgrade_url_for
from tests.factories import UserFactory, WorkspaceFactory, add_member
from usage import selectors
from usage.current import usage_current
from usage.ingestion import UsageEventIn, usage_events_ingest
from usage.models import (
    ActivePersonDay,
    Metric,
    ProductEvent,
    ProductEventDaily,
    UsageCounter,
)
from usage.rollups import product_event_rollups_rebuild
from usage.selectors import EventRollup
from usage.services import (
    paywall_hit_record,
    paywall_hit_record_daily,
    product_event_record,
    product_events_ingest,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now().astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def days_ago(n: int, hours: int = 0):
    return NOW - timedelta(days=n, hours=hours)


def api_event(key: str, name: str, email: str, at) -> dict:
    return {
        "index": 0,
        "idempotency_key": key,
        "name": name,
        "user_email": email,
        "properties": {},
        "occurred_at": at,
    }


def usage(workspace, metric: str, quantity: int, at, key: str) -> None:
    usage_events_ingest(
        workspace=workspace,
        events=[UsageEventIn(0, Metric.objects.get(key=metric), quantity, key, at)],
        limits=workspace_entitlements(workspace_id=workspace.pk, now=NOW),
        upgrade_url=upgrade_url_for(workspace),
        now=NOW,
    )


def rollups() -> tuple[list, list]:
    return (
        sorted(
            ProductEventDaily.objects.values_list(
                "workspace_id", "name", "day", "events", "people", "last_at"
            )
        ),
        sorted(ActivePersonDay.objects.values_list("workspace_id", "name", "day", "person")),
    )


@pytest.fixture
def acme(db):
    """Product events through every path: recorded by the product, sent through the API
    (one person in two letter cases), paywall hits shown and limits hit."""
    workspace = WorkspaceFactory(name="Acme", created_by=UserFactory(email="ann@acme.io"))
    product_event_record(
        workspace_id=workspace.pk, name="report_exported", user_email="ann@acme.io",
        occurred_at=days_ago(0, 2),
    )  # fmt: skip
    product_event_record(
        workspace_id=workspace.pk, name="report_exported", user_email="bob@acme.io",
        occurred_at=days_ago(0, 1),
    )  # fmt: skip
    product_event_record(
        workspace_id=workspace.pk, name="report_exported", occurred_at=days_ago(0, 3)
    )
    product_events_ingest(
        workspace_id=workspace.pk,
        events=[
            api_event(f"e{n}", "report_exported", "ann@acme.io", days_ago(1, n)) for n in range(5)
        ]
        + [api_event("x", "report_exported", "ANN@acme.io", days_ago(1, 6))]
        + [api_event("old", "dashboard_viewed", "cy@acme.io", days_ago(20))],
        now=NOW,
    )
    for _ in range(3):  # shown three times, recorded once
        paywall_hit_record_daily(
            workspace_id=workspace.pk, feature="sso", user_email="ann@acme.io", now=days_ago(2)
        )
    paywall_hit_record_daily(
        workspace_id=workspace.pk, feature="sso", user_email="bob@acme.io", now=days_ago(9)
    )
    paywall_hit_record(workspace_id=workspace.pk, metric="api_calls")  # no person, today
    return workspace


# The rollup ---------------------------------------------------------------------------------


def test_each_stored_product_event_is_counted_in_its_day_with_its_distinct_people(acme):
    by_key = {(name, day): (events, people) for _, name, day, events, people, _ in rollups()[0]}

    assert by_key[("report_exported", days_ago(0).date())] == (3, 2)
    assert by_key[("report_exported", days_ago(1).date())] == (6, 1)
    assert by_key[("dashboard_viewed", days_ago(20).date())] == (1, 1)
    assert by_key[("paywall_hit", days_ago(2).date())] == (1, 1)
    assert by_key[("paywall_hit", days_ago(9).date())] == (1, 1)
    assert by_key[("paywall_hit", timezone.now().date())] == (1, 0)
    assert sum(events for events, _ in by_key.values()) == ProductEvent.objects.count()


def test_the_rollups_written_with_the_events_equal_a_rebuild_from_the_events(acme):
    written = rollups()

    product_event_rollups_rebuild(pk_from=acme.pk, pk_to=acme.pk + 1)

    assert rollups() == written


def test_the_backfill_migration_rolls_up_events_stored_before_the_rollups(acme):
    written = rollups()
    ProductEventDaily.objects.all().delete()
    ActivePersonDay.objects.all().delete()
    migration = importlib.import_module("usage.migrations.0007_backfill_product_event_rollups")

    migration.backfill(apps, connection.schema_editor())

    assert rollups() == written


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_person_recorded_concurrently_on_one_day_counts_once(db):
    workspace = WorkspaceFactory(name="Racy")
    barrier = threading.Barrier(4)
    errors = []

    def record(n: int) -> None:
        try:
            barrier.wait()
            product_event_record(
                workspace_id=workspace.pk,
                name="report_exported",
                user_email="ann@racy.io",
                occurred_at=NOW + timedelta(minutes=n),
            )
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=record, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    row = ProductEventDaily.objects.get(workspace=workspace)
    assert (row.events, row.people, row.last_at) == (4, 1, NOW + timedelta(minutes=3))


# The selectors --------------------------------------------------------------------------------


@pytest.fixture
def base(acme):
    """Acme, plus a busy workspace, an idle one and a deleted one."""
    busy = WorkspaceFactory(name="Busy", created_by=UserFactory(email="dee@busy.io"))
    add_member(busy, "eve@busy.io")
    accounts_services.invitation_create(
        workspace=busy, email="old@busy.io", actor=busy.created_by, now=NOW - timedelta(days=30)
    )
    accounts_services.invitation_create(workspace=busy, email="fay@busy.io", actor=busy.created_by)
    accounts_services.project_create(workspace=busy, name="One", actor=busy.created_by)
    usage(busy, "api_calls", 40, days_ago(0), "u1")
    usage(busy, "api_calls", 2, days_ago(3), "u2")
    usage(busy, "api_calls", 7, days_ago(9), "u3")
    usage(busy, "storage_mb", 300, days_ago(1), "s1")
    for n in range(50):  # one noisy day
        product_event_record(
            workspace_id=busy.pk, name="report_exported", user_email="dee@busy.io",
            occurred_at=days_ago(3, n % 10),
        )  # fmt: skip
    product_event_record(
        workspace_id=busy.pk, name="report_exported", user_email="eve@busy.io",
        occurred_at=days_ago(4),
    )  # fmt: skip
    idle = WorkspaceFactory(name="Idle")
    gone = WorkspaceFactory(name="Gone", created_by=UserFactory(email="gil@gone.io"))
    product_event_record(workspace_id=gone.pk, name="report_exported", user_email="gil@gone.io")
    usage(gone, "api_calls", 5, days_ago(0), "g1")
    accounts_services.workspace_delete(
        workspace=gone, actor=gone.created_by, confirmation=gone.slug
    )
    return {"acme": acme, "busy": busy, "idle": idle, "gone": gone}


def _range(base):
    pks = [w.pk for w in base.values()]
    return {"pk_from": min(pks), "pk_to": max(pks) + 1}


def test_period_totals_agree_with_usage_current_for_every_workspace_and_metric(base):
    totals = selectors.usage_period_totals(**_range(base), now=timezone.now())

    assert set(totals) == {base["acme"].pk, base["busy"].pk, base["idle"].pk}
    for workspace_id, by_metric in totals.items():
        assert set(by_metric) == set(selectors.metric_definitions())
        for metric, used in by_metric.items():
            assert used == usage_current(workspace_id=workspace_id, metric=metric, fresh=True), (
                workspace_id,
                metric,
            )
    assert totals[base["busy"].pk]["seats"] == 3  # two members, one pending invitation
    assert totals[base["busy"].pk]["api_calls"] == sum(
        UsageCounter.objects.filter(
            workspace=base["busy"],
            period_start=Metric.objects.get(key="api_calls").period_start(timezone.now()),
        ).values_list("value", flat=True)
    )


def test_weekly_totals_are_this_week_and_the_week_before_from_the_daily_rollups(base):
    weekly = selectors.usage_weekly_totals(**_range(base), now=NOW)

    assert weekly[base["busy"].pk] == {"api_calls": (42, 7), "storage_mb": (300, 0)}
    assert base["idle"].pk not in weekly
    assert base["gone"].pk not in weekly


def test_event_rollup_counts_events_people_days_and_caps_each_day(base):
    since, until = days_ago(29).date(), NOW.date()

    uncapped = selectors.product_event_rollup(**_range(base), since=since, until=until)
    capped = selectors.product_event_rollup(
        **_range(base), since=since, until=until, names=["report_exported"], daily_cap=5
    )

    assert uncapped[base["busy"].pk]["report_exported"] == EventRollup(
        events=51, people_days=2, days=2
    )
    assert set(uncapped[base["busy"].pk]) == {"report_exported", "project_created"}
    assert capped[base["busy"].pk] == {
        "report_exported": EventRollup(events=6, people_days=2, days=2)
    }
    assert capped[base["acme"].pk] == {
        "report_exported": EventRollup(events=8, people_days=3, days=2)
    }
    assert uncapped[base["acme"].pk]["paywall_hit"].days == 3
    assert base["gone"].pk not in uncapped


def test_active_people_counts_distinct_people_this_week_the_week_before_and_over_30_days(base):
    active = selectors.active_people(**_range(base), now=NOW)

    # ann, bob this week; bob (a paywall) 9 days ago; cy 20 days ago
    assert active[base["acme"].pk] == (2, 1, 3)
    assert active[base["acme"].pk].previous_week == 1
    assert active[base["busy"].pk] == (2, 0, 2)
    assert base["idle"].pk not in active
    assert base["gone"].pk not in active


def test_paywall_spread_counts_distinct_people_and_days_not_hits(base):
    spread = selectors.paywall_spread(**_range(base), now=NOW)
    week = selectors.paywall_spread(**_range(base), now=NOW, days=7)

    assert spread[base["acme"].pk] == (2, 3)
    assert week[base["acme"].pk] == (1, 2)
    assert base["busy"].pk not in spread


def test_last_active_day_is_the_latest_day_with_usage_or_a_product_event(base):
    latest = selectors.last_active_day(**_range(base), now=NOW)

    assert latest[base["busy"].pk] == days_ago(0).date()  # the usage event at noon
    assert (
        latest[base["acme"].pk]
        == ProductEvent.objects.filter(workspace=base["acme"])
        .latest("occurred_at")
        .occurred_at.date()
    )
    assert base["idle"].pk not in latest
    assert base["gone"].pk not in latest


def test_last_active_day_as_of_a_past_day_ignores_what_came_later(base):
    latest = selectors.last_active_day(**_range(base), now=days_ago(1))

    assert latest[base["busy"].pk] < days_ago(0).date()


def test_every_selector_takes_the_same_queries_for_one_workspace_as_for_many(
    base, django_assert_num_queries
):
    selectors.metric_definitions()  # cached, as in a running job
    one = {"pk_from": base["acme"].pk, "pk_to": base["acme"].pk + 1}
    many = _range(base)
    since, until = days_ago(29).date(), NOW.date()
    calls = [
        (4, lambda r: selectors.usage_period_totals(**r, now=NOW)),
        (1, lambda r: selectors.usage_weekly_totals(**r, now=NOW)),
        (1, lambda r: selectors.product_event_rollup(**r, since=since, until=until, daily_cap=3)),
        (1, lambda r: selectors.active_people(**r, now=NOW)),
        (2, lambda r: selectors.paywall_spread(**r, now=NOW)),
        (2, lambda r: selectors.last_active_day(**r, now=NOW)),
    ]
    for queries, call in calls:
        for pk_range in (one, many):
            with django_assert_num_queries(queries):
                call(pk_range)
