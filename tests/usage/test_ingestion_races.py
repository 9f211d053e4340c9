"""Exactly-once counting under concurrency, connection loss and replays (real PostgreSQL)."""

import json
import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, connections
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts import services as accounts_services
from tests.factories import UserFactory, WorkspaceFactory, on_plan
from usage.models import UsageCounter, UsageEvent

URL = "/api/v1/usage/events"
transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _setup(plan: str | None = None):
    owner = UserFactory(email=f"owner-{random.random()}@race.io")
    workspace = WorkspaceFactory(name="Race", created_by=owner)
    if plan:
        on_plan(workspace, plan)
    _, raw_key = accounts_services.api_key_create(workspace=workspace, name="k", actor=owner)
    return workspace, raw_key


def _event(key: str, quantity: int) -> dict:
    at = (timezone.now() - timedelta(seconds=5)).isoformat()
    return {"metric": "api_calls", "quantity": quantity, "idempotency_key": key, "timestamp": at}


def _post(raw_key: str, events: list[dict]):
    return Client().post(
        URL,
        data=json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    )


def _counted(workspace) -> tuple[int, int]:
    """(counter value, sum of stored event quantities)."""
    counter = UsageCounter.objects.get(workspace=workspace, metric="api_calls").value
    total = UsageEvent.objects.filter(workspace=workspace).aggregate(s=Sum("quantity"))["s"]
    return counter, total or 0


@transactional
def test_concurrent_requests_never_overshoot_a_hard_limit(settings):
    settings.HANDOFF_API_RATE_PER_MINUTE = 10_000
    workspace, raw_key = _setup()  # Free: 10,000 API calls a month, hard
    threads_count, batches, per_batch, quantity = 8, 2, 100, 20  # 32,000 offered
    barrier = threading.Barrier(threads_count)
    statuses: list[int] = []

    def send(thread: int) -> None:
        try:
            barrier.wait()
            for batch in range(batches):
                events = [_event(f"t{thread}-b{batch}-{n}", quantity) for n in range(per_batch)]
                statuses.append(_post(raw_key, events).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert _counted(workspace) == (10_000, 10_000)
    assert UsageEvent.objects.filter(workspace=workspace).count() == 10_000 // quantity
    assert set(statuses) <= {200, 207, 402}
    assert 402 in statuses


def _blocked_backend_pid(timeout: float = 10.0) -> int:
    """The PostgreSQL backend waiting on a lock for the usage counter."""
    deadline = time.monotonic() + timeout
    watcher = connections.create_connection("default")
    try:
        with watcher.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE %s AND pid <> pg_backend_pid()",
                    ["%usage_usagecounter%"],
                )
                row = cursor.fetchone()
                if row:
                    return row[0]
                time.sleep(0.02)
    finally:
        watcher.close()
    raise AssertionError("the ingestion request never reached the counter update")


@transactional
def test_a_request_cut_off_mid_transaction_and_retried_counts_once():
    workspace, raw_key = _setup()
    assert _post(raw_key, [_event("before", 10)]).status_code == 200
    batch = [_event(f"cut-{n}", 3) for n in range(50)]

    # Hold the counter row so the request stops after inserting its events.
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute(
            "SELECT value FROM usage_usagecounter WHERE workspace_id = %s FOR UPDATE",
            [workspace.pk],
        )
    outcome: list[object] = []

    def send() -> None:
        try:
            outcome.append(_post(raw_key, batch).status_code)
        except DatabaseError as exc:  # the connection was cut under it
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=send)
    thread.start()
    pid = _blocked_backend_pid()
    killer = connections.create_connection("default")
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    killer.close()
    thread.join(timeout=20)
    holder.rollback()
    holder.close()

    assert isinstance(outcome[0], DatabaseError)
    assert _counted(workspace) == (10, 10)  # nothing of the cut request was kept
    retry = _post(raw_key, batch)
    assert retry.json()["accepted"] == 50
    assert _counted(workspace) == (160, 160)
    again = _post(raw_key, batch)
    assert again.json()["duplicates"] == 50
    assert _counted(workspace) == (160, 160)


@pytest.mark.django_db
def test_replaying_10000_events_with_20_percent_duplicates_counts_the_distinct_ones(settings):
    settings.HANDOFF_API_RATE_PER_MINUTE = 10_000
    workspace, raw_key = _setup(plan="enterprise")  # unlimited: only counting is under test
    rng = random.Random(42)
    distinct = [_event(f"evt-{n}", rng.randint(1, 50)) for n in range(8_000)]
    replayed = distinct + [dict(rng.choice(distinct)) for _ in range(2_000)]
    rng.shuffle(replayed)

    for start in range(0, len(replayed), 500):
        response = _post(raw_key, replayed[start : start + 500])
        assert response.status_code == 200

    expected = sum(event["quantity"] for event in distinct)
    assert UsageEvent.objects.filter(workspace=workspace).count() == 8_000
    assert _counted(workspace) == (expected, expected)
