"""Redis stopped while usage arrives and limits are checked: the answers stay right (read
from PostgreSQL), nothing is lost, and when Redis comes back with what it held before the
outage (a persistent Redis restarts with its data) no cached answer from before is trusted:
the caches agree with PostgreSQL."""

import time

from django.db.models import Sum

from tests.faults.clients import post_usage, usage_event, workspace_with_key
from usage.models import UsageCounter, UsageEvent

PER_EVENT = 100
BATCH = 10  # events: 1,000 API calls a batch
LIMIT = 10_000  # the free plan's API calls a month, a hard limit
# The process-local cache layer answers from its copy for at most this long (by design).
LOCAL_TTL = 0.5


def test_with_redis_down_answers_come_from_postgresql_and_after_it_the_caches_agree(
    servers, redis_server
):
    workspace, raw_key = workspace_with_key("Cacheless")  # free plan
    web = servers.gunicorn(workers=2, HANDOFF_API_RATE_PER_MINUTE="1000000")
    bearer = {"Authorization": f"Bearer {raw_key}"}
    sent = 0

    def send_batch() -> dict:
        nonlocal sent
        events = [usage_event(f"redis-{sent + n}", PER_EVENT) for n in range(BATCH)]
        sent += BATCH
        answer = post_usage(web, raw_key, events)
        assert answer.status in (200, 402), answer.body
        return answer.json()

    def used_as_answered() -> set[int]:
        """What every gunicorn worker answers (a few requests reach both)."""
        time.sleep(LOCAL_TTL + 0.1)
        answers = set()
        for _ in range(6):
            answer = web.request("/api/v1/entitlements", headers=bearer)
            assert answer.status == 200, answer.body
            answers.add(answer.json()["limits"]["api_calls"]["used"])
        return answers

    def counted() -> int:
        return UsageCounter.objects.get(workspace=workspace, metric="api_calls").value

    for _ in range(3):
        assert send_batch()["metrics"]["api_calls"]["used"] == counted()
    assert used_as_answered() == {3_000}  # now cached in Redis

    redis_server.stop()
    for expected in range(4_000, 12_000, 1_000):
        answer = send_batch()
        assert answer["metrics"]["api_calls"]["used"] == min(expected, LIMIT)
        statuses = {result["status"] for result in answer["results"]}
        assert statuses == ({"accepted"} if expected <= LIMIT else {"rejected"}), answer
        if expected > LIMIT:
            assert {r["reason_code"] for r in answer["results"]} == {"hard_limit"}
    assert used_as_answered() == {LIMIT} == {counted()}
    redis_server.start()

    assert used_as_answered() == {LIMIT}  # not the 3,000 Redis held from before the outage
    total = UsageEvent.objects.filter(workspace=workspace).aggregate(total=Sum("quantity"))
    assert total["total"] == LIMIT == counted()
    assert UsageEvent.objects.filter(workspace=workspace).count() == LIMIT // PER_EVENT
    # With Redis back, a batch over the limit is refused as before, from the cache or not.
    assert {r["status"] for r in send_batch()["results"]} == {"rejected"}
    assert used_as_answered() == {LIMIT}
