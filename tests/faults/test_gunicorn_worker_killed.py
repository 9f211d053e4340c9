"""A gunicorn worker killed (SIGKILL) in the middle of usage batches: the client retries
every batch that got no answer with the same idempotency keys, and afterwards every
acknowledged event is counted exactly once, in the counter as in the events."""

import os
import random
import signal
import threading
import time

from django.db.models import Sum

from tests.faults.clients import NO_ANSWER, Load, post_usage, usage_event, workspace_with_key
from tests.faults.servers import wait_for
from usage.models import UsageCounter, UsageDaily, UsageEvent

BATCH = 300
KILLS = 3


def test_batches_cut_off_by_a_killed_worker_and_retried_are_counted_exactly_once(servers):
    workspace, raw_key = workspace_with_key("Killed", plan="pro")
    web = servers.gunicorn(workers=2, HANDOFF_API_RATE_PER_MINUTE="1000000")
    lock = threading.Lock()
    acknowledged: dict[str, int] = {}  # idempotency key → quantity
    cut_off: list[int] = []  # batches that got no answer (retried)
    answered = [0]

    def send(thread: int, halt: threading.Event) -> None:
        batch = 0
        while not halt.is_set():
            events = [
                usage_event(f"kill-{thread}-{batch}-{n}", quantity=1 + n % 7) for n in range(BATCH)
            ]
            while True:
                try:
                    answer = post_usage(web, raw_key, events)
                    break
                except NO_ANSWER:
                    with lock:
                        cut_off.append(batch)  # the same batch again, same keys
                    time.sleep(0.05)
            assert answer.status == 200, answer.body
            results = answer.json()["results"]
            assert {r["status"] for r in results} <= {"accepted", "duplicate"}, results
            with lock:
                for result, event in zip(results, events, strict=True):
                    acknowledged[result["idempotency_key"]] = event["quantity"]
                answered[0] += 1
            batch += 1

    load = Load(send, threads=3)
    try:
        for _ in range(KILLS):
            wait_for(lambda: answered[0] >= 2, timeout=60, what="batches answered")
            time.sleep(random.uniform(0.05, 0.3))
            victim = random.choice(web.children())
            os.kill(victim, signal.SIGKILL)
            # gunicorn's arbiter reaps it and starts a new worker in its place.
            wait_for(
                lambda v=victim: v not in (pids := web.children()) and len(pids) == 2,
                timeout=60,
                what="a new worker",
            )
            with lock:
                answered[0] = 0
    finally:
        load.stop()

    assert cut_off, "no batch was cut off by the kills"
    events = UsageEvent.objects.filter(workspace=workspace)
    stored = dict(events.values_list("idempotency_key", "quantity"))
    assert stored == acknowledged
    total = sum(acknowledged.values())
    counter = UsageCounter.objects.get(workspace=workspace, metric="api_calls")
    assert counter.value == total == events.aggregate(total=Sum("quantity"))["total"]
    daily = UsageDaily.objects.filter(workspace=workspace, metric="api_calls")
    assert daily.aggregate(total=Sum("value"))["total"] == total
    assert daily.aggregate(events=Sum("events"))["events"] == len(stored)
