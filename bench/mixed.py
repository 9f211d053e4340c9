"""Mixed load: every kind of traffic at once against gunicorn and real Celery workers.

For ``BENCH_MIXED_SECONDS`` (default 180; 30 with BENCH_QUICK), at the same time, against
gunicorn (``config.wsgi``, production settings: DEBUG off, persistent connections, on
127.0.0.1) with one ``celery -A config worker`` (2 processes) and PostgreSQL and Redis:

- usage batches: keep-alive clients, one workspace each, POST ``/api/v1/usage/events``
  (500 events a batch, paced); every tenth batch is sent a second time, as a client retrying;
- product events: ``POST /api/v1/events`` in batches of 50, paced;
- Stripe webhooks: the lifecycles ``bench.webhooks`` draws, signed with Stripe's scheme, 30%
  of the deliveries duplicates, shuffled, spread over the run; the worker processes them
  (it fetches from a fake Stripe API on 127.0.0.1 where a gap needs it);
- sales queue pages: a sales rep's browser session reading ``/sales/`` and
  ``/api/v1/pql/leads`` in turn;
- PQL scoring: ``pqls_score`` runs, one after the other, on the worker, over a synthetic base
  of ``BENCH_MIXED_PQL_WORKSPACES`` workspaces (built with ``bench.pql.build``), as of the
  base's date.

Each stream's p50 / p99 latency, errors (a non-2xx, or a run not finished: there must be
none) and throughput are reported. Afterwards: every usage counter equals the sum of the
distinct events sent (each once, retries included), the product events stored and their daily
rollups equal those sent, every webhook event is processed and each workspace's subscription
and ledger equal those of an in-order replay of the same events and Stripe's final state
(``bench.webhooks``'s checks), and the scores equal a fresh recomputation after the load.

Run: ``make bench ONLY=mixed`` (``QUICK=1`` for a short, small run).
"""

import base64
import http.client
import json
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import ROOT, django_setup, figure, free_port, percentile, quick, write_figures

SECONDS = float(os.environ.get("BENCH_MIXED_SECONDS", 30 if quick() else 180))
PQL_WORKSPACES = int(os.environ.get("BENCH_MIXED_PQL_WORKSPACES", 2_000 if quick() else 20_000))
WEBHOOK_WORKSPACES = int(os.environ.get("BENCH_MIXED_WEBHOOK_WORKSPACES", 20 if quick() else 120))
USAGE_CLIENTS = 2
USAGE_BATCH = 500
USAGE_INTERVAL = 0.5  # seconds between a client's batches
RETRY_EVERY = 10  # every tenth batch is sent twice
PRODUCT_BATCH = 50
PRODUCT_INTERVAL = 0.5
WEBHOOK_CLIENTS = 2
QUEUE_INTERVAL = 0.5
PQL_PAUSE = 5.0  # seconds between scoring runs
WEB_WORKERS = 3
WORKER_CONCURRENCY = 2
SEED = 20261202


class Stream:
    """Latencies, errors and items of one kind of traffic."""

    def __init__(self, name: str, unit: str) -> None:
        self.name, self.unit = name, unit
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.items = 0
        self.lock = threading.Lock()

    def record(self, seconds: float, items: int, error: str | None = None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.items += items
            if error:
                self.errors.append(error)


def _paced(stop_at: float, interval: float, send: Callable[[int], bool]) -> None:
    """Call ``send(n)`` every ``interval`` seconds (at once when behind) until ``stop_at`` or
    until it returns False."""
    next_at = time.monotonic()
    n = 0
    while time.monotonic() < stop_at:
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if not send(n):
            return
        n += 1
        next_at += interval


def _request(conn: http.client.HTTPConnection, method: str, path: str, body=None, headers=None):
    start = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    payload = response.read()
    return time.perf_counter() - start, response.status, payload


# Fixtures ---------------------------------------------------------------------------------


def _key_workspaces(count: int, label: str) -> list[tuple[int, str]]:
    from accounts import services
    from accounts.models import User
    from billing import services as billing_services
    from billing.models import Plan

    enterprise = Plan.objects.get(code="enterprise")  # unlimited: limits read, none bite
    keys = []
    for n in range(count):
        owner = User.objects.create_user(email=f"{label}{n}-{secrets.token_hex(3)}@bench.io")
        workspace = services.workspace_create(name=f"Mixed {label} {n}", owner=owner)
        billing_services.subscription_set_plan(
            workspace=workspace, plan=enterprise, actor=None, reason="bench"
        )
        _, raw_key = services.api_key_create(workspace=workspace, name="bench", actor=owner)
        keys.append((workspace.pk, raw_key))
    return keys


def _session_cookie(rep) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(rep)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


# Streams ----------------------------------------------------------------------------------


def _usage(port: int, keys, stop_at: float, stream: Stream, sent: dict) -> list[threading.Thread]:
    stamp = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()

    def client(workspace_id: int, raw_key: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}
        previous: list[bytes] = []

        def send(n: int) -> bool:
            retry = n % RETRY_EVERY == RETRY_EVERY - 1 and previous
            if retry:
                body, expect_new = previous[-1], 0
            else:
                events = [
                    {
                        "metric": "api_calls",
                        "quantity": 1 + (i % 7),
                        "idempotency_key": f"m{workspace_id}-b{n}-e{i}",
                        "timestamp": stamp,
                    }
                    for i in range(USAGE_BATCH)
                ]
                body, expect_new = json.dumps({"events": events}).encode(), USAGE_BATCH
            elapsed, status, payload = _request(conn, "POST", "/api/v1/usage/events", body, headers)
            error = None
            if status != 200:
                error = f"{status}: {payload[:200]!r}"
            elif json.loads(payload)["accepted"] != expect_new:
                error = f"accepted {json.loads(payload)['accepted']}, expected {expect_new}"
            elif not retry:
                previous.append(body)
                with stream.lock:
                    sent[workspace_id] = sent.get(workspace_id, 0) + sum(
                        1 + (i % 7) for i in range(USAGE_BATCH)
                    )
            stream.record(elapsed, USAGE_BATCH, error)
            return True

        _paced(stop_at, USAGE_INTERVAL, send)
        conn.close()

    return [threading.Thread(target=client, args=key) for key in keys]


def _product(port: int, key, stop_at: float, stream: Stream, sent: dict) -> threading.Thread:
    workspace_id, raw_key = key
    stamp = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}

        def send(n: int) -> bool:
            events = [
                {
                    "name": ("report_exported", "project_created", "paywall_hit")[i % 3],
                    "user_email": f"person{i % 5}@mixed.example",
                    "properties": {"batch": n},
                    "idempotency_key": f"p{n}-{i}",
                    "timestamp": stamp,
                }
                for i in range(PRODUCT_BATCH)
            ]
            body = json.dumps({"events": events}).encode()
            elapsed, status, payload = _request(conn, "POST", "/api/v1/events", body, headers)
            error = None
            if status != 200:
                error = f"{status}: {payload[:200]!r}"
            elif json.loads(payload)["accepted"] != PRODUCT_BATCH:
                error = f"accepted {json.loads(payload)['accepted']} of {PRODUCT_BATCH}"
            else:
                with stream.lock:
                    sent[workspace_id] = sent.get(workspace_id, 0) + PRODUCT_BATCH
            stream.record(elapsed, PRODUCT_BATCH, error)
            return True

        _paced(stop_at, PRODUCT_INTERVAL, send)
        conn.close()

    return threading.Thread(target=run)


def _webhooks(
    port: int, bodies: list[bytes], secret: str, seconds: float, stream: Stream, answered: list
) -> list[threading.Thread]:
    from billing.stripe.signing import signature_header

    # Spread over most of the run, so that processing overlaps every other stream.
    interval = max(0.001, seconds * 0.8 / max(1, len(bodies)) * WEBHOOK_CLIENTS)
    stop_at = time.monotonic() + seconds * 2  # every delivery is sent, even when behind

    def client(mine: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def send(n: int) -> bool:
            if n >= len(mine):
                return False
            body = mine[n]
            headers = {
                "Content-Type": "application/json",
                "Stripe-Signature": signature_header(body, secret),
            }
            elapsed, status, payload = _request(
                conn, "POST", "/billing/stripe/webhook/", body, headers
            )
            error = None if status == 200 else f"{status}: {payload[:200]!r}"
            if status == 200 and json.loads(payload)["duplicate"]:
                with stream.lock:
                    answered[0] += 1
            stream.record(elapsed, 1, error)
            return True

        _paced(stop_at, interval, send)
        conn.close()

    return [
        threading.Thread(target=client, args=(bodies[n::WEBHOOK_CLIENTS],))
        for n in range(WEBHOOK_CLIENTS)
    ]


def _queue(port: int, cookie: str, stop_at: float, stream: Stream) -> threading.Thread:
    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Cookie": cookie}

        def send(n: int) -> bool:
            path = ("/sales/", "/api/v1/pql/leads", "/sales/?sort=sla")[n % 3]
            elapsed, status, payload = _request(conn, "GET", path, headers=headers)
            error = None if status == 200 else f"{path} {status}: {payload[:200]!r}"
            if status == 200 and path.startswith("/api/") and not json.loads(payload)["results"]:
                error = f"{path}: no leads"
            stream.record(elapsed, 1, error)
            return True

        _paced(stop_at, QUEUE_INTERVAL, send)
        conn.close()

    return threading.Thread(target=run)


def _scoring(stop_at: float, stream: Stream, now: datetime) -> threading.Thread:
    def run() -> None:
        from django.db import connection

        from bench.pql import _job_on_workers

        try:
            while time.monotonic() < stop_at:
                try:
                    elapsed, _ = _job_on_workers(now)
                    stream.record(elapsed, PQL_WORKSPACES)
                except SystemExit as exc:  # the bench's way of saying the run failed
                    stream.record(0.0, 0, str(exc))
                time.sleep(PQL_PAUSE)
        finally:
            connection.close()

    return threading.Thread(target=run)


# Checks afterwards --------------------------------------------------------------------------


def _usage_exact(sent: dict) -> list[str]:
    from usage.models import UsageCounter, UsageEvent

    problems = []
    for workspace_id, quantity in sent.items():
        counter = UsageCounter.objects.filter(workspace_id=workspace_id, metric="api_calls")
        value = sum(counter.values_list("value", flat=True))
        events = UsageEvent.objects.filter(workspace_id=workspace_id)
        stored = sum(events.values_list("quantity", flat=True))
        if not value == stored == quantity:
            problems.append(f"usage of {workspace_id}: sent {quantity}, counter {value}, {stored}")
    return problems


def _product_exact(sent: dict) -> list[str]:
    from django.db.models import Sum

    from usage.models import ProductEvent, ProductEventDaily

    problems = []
    for workspace_id, count in sent.items():
        stored = ProductEvent.objects.filter(workspace_id=workspace_id).count()
        rolled = ProductEventDaily.objects.filter(workspace_id=workspace_id).aggregate(
            s=Sum("events")
        )["s"]
        if not stored == rolled == count:
            problems.append(
                f"product events of {workspace_id}: sent {count}, stored {stored}, "
                f"rolled up {rolled}"
            )
    return problems


def _summary(stream: Stream, seconds: float) -> list[dict]:
    samples = stream.latencies or [0.0]
    unit = "s" if stream.name == "PQL scoring runs" else "ms"
    scale = 1 if unit == "s" else 1000
    return [
        figure(
            f"{stream.name}: p50 latency",
            percentile(samples, 50) * scale,
            unit=unit,
            note=f"{len(stream.latencies):,} requests" if unit == "ms" else "per run",
        ),
        figure(f"{stream.name}: p99 latency", percentile(samples, 99) * scale, unit=unit),
        figure(
            f"{stream.name}: errors",
            len(stream.errors),
            target=("value", "==", 0),
            note=stream.errors[0][:150] if stream.errors else "",
        ),
        figure(f"{stream.name}: throughput", stream.items / seconds, unit=f"{stream.unit}/s"),
    ]


def main() -> None:
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)  # the same here and in gunicorn
    os.environ.setdefault("EMAIL_URL", "dummymail://")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    django_setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection

    from bench import pql as pql_bench
    from bench import webhooks as webhook_bench
    from bench.common import start_gunicorn
    from bench.queue import reps_create
    from config.celery_app import app as celery_app
    from tests.billing.stripe.fake_stripe import FakeStripe

    started = time.perf_counter()
    pql_bench.build(PQL_WORKSPACES)
    cache.clear()
    pql_bench._job(pql_bench.NOW)  # leads for the queue to show, before the load
    rep = reps_create()[0]
    fake = FakeStripe().start()
    customers, twins = webhook_bench._fixtures(fake, WEBHOOK_WORKSPACES)
    bodies, unique_events = webhook_bench._deliveries(customers)
    usage_keys = _key_workspaces(USAGE_CLIENTS, "usage")
    product_key = _key_workspaces(1, "product")[0]
    cookie = _session_cookie(rep)
    setup_s = time.perf_counter() - started

    env = webhook_bench._environment(fake) | {
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "STRIPE_WEBHOOK_SECRET": webhook_bench.SECRET,
        "HANDOFF_API_RATE_PER_MINUTE": "1000000",
        # Production settings may require it; harmless where unused.
        "HANDOFF_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    os.environ.update(
        {k: env[k] for k in ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "HANDOFF_ENCRYPTION_KEYS")}
    )
    # As deployed: the pages' static files collected for the manifest storage.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity=0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = free_port()
    server = start_gunicorn("config.wsgi", port=port, env=env, workers=WEB_WORKERS)
    workers = pql_bench.Workers(WORKER_CONCURRENCY)
    streams = {
        "usage": Stream("usage batches", "events"),
        "product": Stream("product events", "events"),
        "webhooks": Stream("Stripe webhooks", "deliveries"),
        "queue": Stream("sales queue pages", "pages"),
        "pql": Stream("PQL scoring runs", "workspaces"),
    }
    usage_sent: dict = {}
    product_sent: dict = {}
    duplicates_answered = [0]
    try:
        load_started = time.monotonic()
        stop_at = load_started + SECONDS
        threads = [
            *_usage(port, usage_keys, stop_at, streams["usage"], usage_sent),
            _product(port, product_key, stop_at, streams["product"], product_sent),
            *_webhooks(
                port,
                bodies,
                webhook_bench.SECRET,
                SECONDS,
                streams["webhooks"],
                duplicates_answered,
            ),
            _queue(port, cookie, stop_at, streams["queue"]),
            _scoring(stop_at, streams["pql"], pql_bench.NOW),
        ]
        random.Random(SEED).shuffle(threads)  # noqa: S311 - start order only
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        load_s = time.monotonic() - load_started
        processing = webhook_bench._wait_processed(unique_events)
    finally:
        server.terminate()
        server.wait(timeout=30)
        workers.stop()

    # Checks: counters, ledger, scores.
    usage_problems = _usage_exact(usage_sent)
    product_problems = _product_exact(product_sent)
    settings.STRIPE_SECRET_KEY = env["STRIPE_SECRET_KEY"]
    settings.STRIPE_API_BASE = fake.base_url
    settings.CELERY_TASK_ALWAYS_EAGER = True
    celery_app.conf.task_always_eager = True
    webhook_bench._replay_in_order(twins)
    ledger_problems, _ = webhook_bench._verify(customers, twins)
    # The scoring base is bulk SQL with no ledger: only the webhook workspaces' is checked.
    mine = {str(c.workspace_id) for c in customers} | {str(t.workspace_id) for t in twins}
    ledger_problems = [p for p in ledger_problems if re.match(r"workspace (\d+)", p)[1] in mine]
    fake.stop()
    during = pql_bench._scores()
    from pql.models import Lead

    leads_during = Lead.objects.count()
    pql_bench.reset_scores()
    pql_bench._job(pql_bench.NOW)
    fresh = pql_bench._scores()
    scores_equal = during == fresh and leads_during == Lead.objects.count()
    connection.close()

    figures = []
    for stream in streams.values():
        figures += _summary(stream, load_s)
    duplicates_sent = len(bodies) - unique_events
    figures += [
        figure(
            "usage: every counter equals the distinct events sent (retries counted once)",
            not usage_problems,
            target=("value", "==", True),
            note=usage_problems[0] if usage_problems else f"{sum(usage_sent.values()):,} units",
        ),
        figure(
            "product events: stored and rolled up equal those sent",
            not product_problems,
            target=("value", "==", True),
            note=product_problems[0] if product_problems else "",
        ),
        figure(
            "webhooks answered as duplicates",
            duplicates_answered[0],
            baseline="duplicates sent",
            baseline_value=duplicates_sent,
            target=("ratio", "==", 1),
        ),
        figure(
            "webhooks: every workspace's subscription and ledger equal the in-order replay "
            "and Stripe's state",
            not ledger_problems,
            target=("value", "==", True),
            note=ledger_problems[0][:150] if ledger_problems else "",
        ),
        figure("webhooks: all processed, after the load", processing, unit="s"),
        figure(
            "PQL: scores and leads equal a fresh recomputation after the load",
            scores_equal,
            target=("value", "==", True),
            note=f"{len(fresh):,} scores, {leads_during:,} leads",
        ),
    ]
    write_figures(
        "mixed",
        "Mixed load",
        figures,
        context=f"{load_s:.0f} s of every stream at once against gunicorn ({WEB_WORKERS} "
        f"workers, production settings) and one Celery worker ({WORKER_CONCURRENCY} "
        f"processes): {USAGE_CLIENTS} usage clients ({USAGE_BATCH} events a batch every "
        f"{USAGE_INTERVAL} s, every {RETRY_EVERY}th batch sent twice), product events "
        f"({PRODUCT_BATCH} every {PRODUCT_INTERVAL} s), {len(bodies):,} webhook deliveries "
        f"({unique_events:,} events of {WEBHOOK_WORKSPACES} workspaces, "
        f"{duplicates_sent:,} duplicates, shuffled), a sales rep's session reading a queue "
        f"page every {QUEUE_INTERVAL} s, PQL scoring runs over {PQL_WORKSPACES:,} workspaces "
        f"on the worker. Set-up {setup_s:.0f} s.",
    )
    for fig in figures:
        print(f"{fig['figure']}: {fig['value']} {fig['unit']} {fig['note']}")


if __name__ == "__main__":
    main()
