"""Benchmark of usage ingestion (issue: usage metering).

Sends 1000-event batches through the real endpoint (gunicorn, PostgreSQL, Redis) from
keep-alive client threads, one workspace each, and in the same run loads the same number
of rows into the same table with psycopg's COPY. Reports events per second, request p50 and
p99, the ratio to COPY, and checks that every counter equals the events stored.

Run: ``make bench``.
"""

import http.client
import json
import os
import secrets
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

from bench.common import (
    django_setup,
    figure,
    free_port,
    percentile,
    quick,
    start_gunicorn,
    write_figures,
    write_report,
)

CLIENTS = 4
BATCHES_PER_CLIENT = 5 if quick() else 25
EVENTS_PER_BATCH = 1000
WORKERS = 3


def _workspaces() -> list[tuple[int, str]]:
    from accounts import services
    from accounts.models import User
    from billing import services as billing_services
    from billing.models import Plan

    enterprise = Plan.objects.get(code="enterprise")  # unlimited: limits are read, none bite
    keys = []
    for n in range(CLIENTS):
        owner = User.objects.create_user(email=f"ingest{n}-{secrets.token_hex(3)}@bench.io")
        workspace = services.workspace_create(name=f"Ingest {n}", owner=owner)
        billing_services.subscription_set_plan(
            workspace=workspace, plan=enterprise, actor=None, reason="bench"
        )
        _, raw_key = services.api_key_create(workspace=workspace, name="bench", actor=owner)
        keys.append((workspace.pk, raw_key))
    return keys


def _bodies(client: int, now: datetime) -> list[bytes]:
    stamp = (now - timedelta(seconds=30)).isoformat()
    return [
        json.dumps(
            {
                "events": [
                    {
                        "metric": "api_calls",
                        "quantity": 1 + (n % 7),
                        "idempotency_key": f"c{client}-b{batch}-e{n}",
                        "timestamp": stamp,
                    }
                    for n in range(EVENTS_PER_BATCH)
                ]
            }
        ).encode()
        for batch in range(BATCHES_PER_CLIENT)
    ]


def _start_gunicorn(port: int) -> subprocess.Popen:
    env = os.environ | {
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "STRIPE_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "HANDOFF_SITE_URL": f"http://127.0.0.1:{port}",
        "SECURE_SSL_REDIRECT": "False",
        "HANDOFF_API_RATE_PER_MINUTE": "1000000",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
    }
    return start_gunicorn("config.wsgi", port=port, env=env, workers=WORKERS)


def _load(port: int, keys: list[tuple[int, str]], now: datetime):
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    bodies = [_bodies(n, now) for n in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {keys[n][1]}", "Content-Type": "application/json"}
        barrier.wait()
        for body in bodies[n]:
            start = time.perf_counter()
            conn.request("POST", "/api/v1/usage/events", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if response.status != 200 or json.loads(payload)["accepted"] != EVENTS_PER_BATCH:
                    failures.append(f"{response.status}: {payload[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, failures


def _copy_rate(keys: list[tuple[int, str]], now: datetime, rows: int) -> float:
    """Rows per second loading the same rows into usage_usageevent with COPY."""
    from django.db import connection

    stamp = (now - timedelta(seconds=30)).isoformat()
    received = now.isoformat()
    per_workspace = rows // len(keys)
    # The rows prepared up front as COPY text, so the timing is PostgreSQL's loading alone.
    data = "".join(
        f"{workspace_id}\tapi_calls\t{1 + (n % 7)}\tcopy-{n}\t{stamp}\t{received}\n"
        for workspace_id, _ in keys
        for n in range(per_workspace)
    ).encode()
    with connection.cursor() as cursor:
        raw = cursor.connection  # psycopg 3
        start = time.perf_counter()
        with raw.cursor().copy(
            "COPY usage_usageevent (workspace_id, metric_id, quantity, idempotency_key, "
            "occurred_at, received_at) FROM STDIN"
        ) as copy:
            copy.write(data)
        raw.commit()
        return rows / (time.perf_counter() - start)


def _verify(keys: list[tuple[int, str]]) -> bool:
    from django.db.models import Sum

    from usage.models import UsageCounter, UsageEvent

    for workspace_id, _ in keys:
        events = UsageEvent.objects.filter(workspace_id=workspace_id).exclude(
            idempotency_key__startswith="copy-"
        )
        total = events.aggregate(s=Sum("quantity"))["s"]
        counter = UsageCounter.objects.get(workspace_id=workspace_id, metric="api_calls").value
        if counter != total or events.count() != BATCHES_PER_CLIENT * EVENTS_PER_BATCH:
            return False
    return True


def main() -> None:
    django_setup()
    now = datetime.now(UTC)
    keys = _workspaces()
    port = free_port()
    server = _start_gunicorn(port)
    try:
        elapsed, latencies, failures = _load(port, keys, now)
    finally:
        server.terminate()
        server.wait(timeout=30)
    events = CLIENTS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH
    rate = events / elapsed
    correct = _verify(keys)
    copy_rate = _copy_rate(keys, now, events)
    ratio = rate / copy_rate
    lines = [
        "# Benchmark: usage ingestion",
        "",
        f"gunicorn ({WORKERS} workers) + PostgreSQL + Redis on this machine, "
        f"{CLIENTS} keep-alive clients (one workspace each), "
        f"{BATCHES_PER_CLIENT} batches of {EVENTS_PER_BATCH} events per client.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| events through the endpoint | {events:,} in {elapsed:.2f} s |",
        f"| **endpoint rate** | **{rate:,.0f} events/s** (target ≥ 10,000) |",
        f"| request p50 / p99 (1000 events) | {percentile(latencies, 50) * 1000:.1f} ms / "
        f"{percentile(latencies, 99) * 1000:.1f} ms |",
        f"| COPY of the same rows into the same table | {copy_rate:,.0f} rows/s |",
        f"| **ratio to COPY** | **{ratio:.3f}** (target ≥ 0.05, aim 0.10) |",
        f"| failed requests | {len(failures)} |",
        f"| counters equal the events stored | {'yes' if correct else 'NO'} |",
        "",
        "Verdict: "
        + ("PASS" if rate >= 10_000 and ratio >= 0.05 and correct and not failures else "FAIL"),
    ]
    if failures:
        lines += ["", "First failure: " + failures[0]]
    write_report("ingestion.md", "\n".join(lines) + "\n")
    write_figures(
        "ingestion",
        "Usage ingestion",
        [
            figure(
                "endpoint rate",
                rate,
                unit="events/s",
                baseline="COPY of the same rows into the same table",
                baseline_value=copy_rate,
                target=("value", ">=", 10_000),
            ),
            figure(
                "endpoint rate / COPY rate",
                rate,
                unit="events/s",
                baseline="COPY (rows/s)",
                baseline_value=copy_rate,
                target=("ratio", ">=", 0.05),
                note="aim 0.10",
            ),
            figure(
                "request p99 (1000 events)",
                percentile(latencies, 99) * 1000,
                unit="ms",
                note=f"p50 {percentile(latencies, 50) * 1000:.1f} ms",
            ),
            figure("failed requests", len(failures), target=("value", "==", 0)),
            figure("counters equal the events stored", correct, target=("value", "==", True)),
        ],
        context=f"gunicorn ({WORKERS} workers), {CLIENTS} keep-alive clients, "
        f"{events:,} events in batches of {EVENTS_PER_BATCH}.",
    )


if __name__ == "__main__":
    main()
