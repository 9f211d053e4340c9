"""PostgreSQL restarted under load: usage batches and Stripe webhooks keep arriving at
gunicorn. While the database is away every client gets 503 with ``Retry-After`` (and retries
the same request); no client ever gets a 2xx for something that was not stored."""

import threading
import time

from django.db import connections

from billing.models import StripeEvent
from tests.faults.clients import (
    Load,
    post_usage,
    post_webhook,
    signed_event,
    usage_event,
    workspace_with_key,
)
from tests.faults.servers import wait_for
from usage.models import UsageCounter, UsageDaily, UsageEvent

BATCH = 20


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acknowledged: set[str] = set()
        self.unavailable = 0

    def size(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def _until_answered(request, tally: Tally, halt: threading.Event):
    """Send until an answer other than 503 comes; each 503 carries Retry-After."""
    while True:
        answer = request()
        if answer.status != 503:
            return answer
        assert answer.headers.get("Retry-After") == "30", (answer.headers, answer.body)
        with tally.lock:
            tally.unavailable += 1
        time.sleep(0.1)  # the test's stand-in for Retry-After


def _restart_under(load: Load, tally: Tally, postgres) -> None:
    """Some requests succeed, PostgreSQL stops (fast shutdown) while they keep coming, starts
    again, and more succeed; then the load stops."""
    try:
        wait_for(lambda: tally.size() >= 40, timeout=60, what="answers before the restart")
        postgres.stop()
        wait_for(lambda: tally.unavailable >= 3, timeout=30, what="503 answers")
        postgres.start()
        before = tally.size()
        wait_for(lambda: tally.size() >= before + 40, timeout=60, what="answers after it")
    finally:
        load.stop()
    connections["default"].close()  # the test's own connection did not survive the restart


def test_postgresql_restart_during_ingestion_answers_503_and_never_acknowledges_unstored(
    servers, postgres
):
    workspace, raw_key = workspace_with_key("Restart", plan="pro")
    web = servers.gunicorn(workers=2, HANDOFF_API_RATE_PER_MINUTE="1000000")
    tally = Tally()

    def send(thread: int, halt: threading.Event) -> None:
        batch = 0
        while not halt.is_set():
            events = [usage_event(f"pg-{thread}-{batch}-{n}") for n in range(BATCH)]
            answer = _until_answered(lambda e=events: post_usage(web, raw_key, e), tally, halt)
            assert answer.status == 200, answer.body
            results = answer.json()["results"]
            assert {r["status"] for r in results} <= {"accepted", "duplicate"}, results
            with tally.lock:
                tally.acknowledged.update(r["idempotency_key"] for r in results)
            batch += 1

    _restart_under(Load(send, threads=3), tally, postgres)

    stored = set(UsageEvent.objects.filter(workspace=workspace).values_list("idempotency_key"))
    stored = {key for (key,) in stored}
    assert tally.unavailable >= 3
    assert tally.acknowledged <= stored  # no 2xx for anything not stored
    assert stored == tally.acknowledged  # every batch was retried until answered
    counter = UsageCounter.objects.get(workspace=workspace, metric="api_calls")
    assert counter.value == len(stored)
    daily = UsageDaily.objects.filter(workspace=workspace, metric="api_calls")
    assert sum(daily.values_list("value", flat=True)) == len(stored)


def test_postgresql_restart_during_webhook_delivery_answers_503_and_stores_every_2xx(
    servers, postgres
):
    web = servers.gunicorn(workers=2)
    tally = Tally()

    def send(thread: int, halt: threading.Event) -> None:
        while not halt.is_set():
            event, body = signed_event(
                "customer.updated", {"id": "cus_faults", "object": "customer"}
            )
            answer = _until_answered(lambda b=body: post_webhook(web, b), tally, halt)
            assert answer.status == 200, answer.body
            assert answer.json()["received"] is True
            with tally.lock:
                tally.acknowledged.add(event["id"])

    _restart_under(Load(send, threads=3), tally, postgres)

    stored = set(StripeEvent.objects.values_list("stripe_id", flat=True))
    assert tally.unavailable >= 3
    assert tally.acknowledged <= stored  # no 2xx for an event not stored
    assert stored == tally.acknowledged
