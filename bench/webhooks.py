"""Benchmark of the Stripe webhook pipeline (issue: self-serve billing through Stripe).

A realistic lifecycle for each of many workspaces (checkouts, trials, seat and plan changes,
failed and recovered payments, cancellations, come-backs) is played by the test suite's
Stripe stand-in, which keeps each subscription's current state on a fake Stripe API on
127.0.0.1 (for the fetches a gap needs). Its events, signed with Stripe's scheme, 30% of the
deliveries duplicates and all in shuffled order, are POSTed from keep-alive client threads
to the real endpoint under gunicorn, with PostgreSQL and Redis; one ``celery -A config
worker`` processes them meanwhile.

1. Acknowledgement latency: the first part of the deliveries alternates, per client, with
   a POST of the same body to a minimal view doing one INSERT (``bench.webhook_app``), so
   both see the same load; p50/p99 of each (target: webhook p99 at most twice the minimal view's).
2. Acknowledged events per second: the rest of the deliveries as fast as the clients go
   (target ≥ 300/s).
3. Correctness: once the worker has processed every event, each workspace's mirror and
   ledger equal those of a twin workspace whose identical lifecycle is replayed in order,
   one event after the other: the same subscription and MRR, and the same movement totals
   by month and kind (the ledger places each state at its event's time, and a late event
   appends corrections); both equal the state of Stripe's final subscription objects; and
   for every workspace the movements sum to its MRR.

Run: ``make bench`` (or ``.venv/bin/python scripts/test_services.py -- .venv/bin/python -m
bench.webhooks``); ``BENCH_WEBHOOK_WORKSPACES=60`` for a quicker, smaller run.
"""

import http.client
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time

from bench.common import (
    ROOT,
    django_setup,
    figure,
    free_port,
    percentile,
    quick,
    start_gunicorn,
    write_figures,
    write_report,
)

WORKSPACES = int(os.environ.get("BENCH_WEBHOOK_WORKSPACES", 30 if quick() else 300))
DUPLICATE_SHARE = 0.30  # of all deliveries
LATENCY_SHARE = 0.40  # of the deliveries, interleaved with the minimal view
CLIENTS = 4
WEB_WORKERS = 3
# The worker shares this machine's CPUs with gunicorn, PostgreSQL, Redis and the clients;
# in production it runs elsewhere. At a lower priority it takes the CPU acknowledgements
# leave over, which is what a separate machine would give them.
WORKER_NICE = 10
WORKER_CONCURRENCY = 2
SEED = 20261122
SECRET = "whsec_bench_" + secrets.token_hex(8)
PROCESS_TIMEOUT = 600


def _life(stripe, rng: random.Random) -> None:
    """One workspace's story at Stripe, drawn from ``rng`` (the twin draws the same)."""
    interval = "" if rng.random() < 0.75 else "_yearly"
    plan = rng.choice(["pro", "pro", "business"])
    seats = rng.randint(1, 25)
    trial = rng.random() < 0.3
    stripe.subscribe(plan + interval, seats, trial_days=14 if trial else 0)
    if trial:
        stripe.trial_will_end()
        if rng.random() < 0.25:
            stripe.update(status="paused")  # the trial ended without a card
            return
        stripe.update(status="active")
    for _ in range(rng.randint(0, 5)):
        roll = rng.random()
        if roll < 0.35:
            seats = max(1, seats + rng.randint(-3, 6))
            stripe.update(seats=seats, same_second=rng.random() < 0.1)
        elif roll < 0.55:
            plan = "business" if plan == "pro" else "pro"
            stripe.update(price=plan + interval)
        elif roll < 0.75:
            stripe.payment_fails()
            if rng.random() < 0.75:
                stripe.payment_recovers()
            else:
                stripe.update(status="unpaid")  # Stripe gave up collecting
                return
        elif roll < 0.9:
            stripe.update(cancel_at_period_end=True)
            if rng.random() < 0.5:
                stripe.update(cancel_at_period_end=False)
        else:
            stripe.tick(rng.randint(1, 3))
    if rng.random() < 0.25:
        stripe.cancel()
        if rng.random() < 0.4:  # the workspace comes back later
            stripe.tick(rng.randint(60, 3600))
            stripe.subscribe(rng.choice(["pro", "business"]), rng.randint(1, 10))


def _fixtures(fake, count: int = WORKSPACES) -> tuple[list, list]:
    """(the benchmarked customers, their in-order twins), one workspace each."""
    from accounts import services
    from accounts.models import User
    from billing.models import Price
    from tests.billing.stripe.payloads import StripeCustomer

    prices = {}
    for price in Price.objects.filter(is_active=True).select_related("plan"):
        key = price.plan.code if price.interval == "month" else f"{price.plan.code}_yearly"
        price.stripe_price_id = f"price_bench_{key}"
        price.save(update_fields=["stripe_price_id"])
        prices[key] = (price.stripe_price_id, price.amount_cents)

    start = int(time.time()) - 2 * 86_400
    customers, twins = [], []
    for n in range(count):
        pair = []
        for role in ("run", "twin"):
            owner = User.objects.create_user(email=f"{role}{n}-{secrets.token_hex(3)}@bench.io")
            workspace = services.workspace_create(name=f"Bench {role} {n}", owner=owner)
            stripe = StripeCustomer(
                workspace_id=workspace.pk,
                prices=prices,
                fake=fake,
                clock=start + n * 7,
                name=f"bench_{role}{n}",
            )
            _life(stripe, random.Random(SEED + n))  # noqa: S311 - a reproducible draw
            pair.append(stripe)
        customers.append(pair[0])
        twins.append(pair[1])
    return customers, twins


def _deliveries(customers) -> tuple[list[bytes], int]:
    """Every event once plus duplicates making 30% of the deliveries, shuffled."""
    rng = random.Random(SEED)  # noqa: S311 - a reproducible draw
    events = [evt for stripe in customers for evt in stripe.events]
    duplicates = round(len(events) * DUPLICATE_SHARE / (1 - DUPLICATE_SHARE))
    deliveries = events + [rng.choice(events) for _ in range(duplicates)]
    rng.shuffle(deliveries)
    return [json.dumps(evt).encode() for evt in deliveries], len(events)


# Servers ----------------------------------------------------------------------------------


def _environment(fake) -> dict[str, str]:
    return os.environ | {
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "HANDOFF_SITE_URL": "http://127.0.0.1",
        "SECURE_SSL_REDIRECT": "False",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_API_BASE": fake.base_url,
    }


def _start_gunicorn(port: int, env: dict[str, str]) -> subprocess.Popen:
    return start_gunicorn("bench.webhook_app", port=port, env=env, workers=WEB_WORKERS)


def _start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            "nice",
            "-n",
            str(WORKER_NICE),
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "--quiet",
            "worker",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--concurrency",
            str(WORKER_CONCURRENCY),
        ],
        cwd=ROOT,
        env=env,
    )


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Load -------------------------------------------------------------------------------------


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict):
    start = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    return time.perf_counter() - start, response.status, payload


def _run(port: int, bodies: list[bytes], *, interleave: bool):
    """Post ``bodies`` from CLIENTS threads; with ``interleave``, each webhook POST is
    followed by the same body to the minimal view. Returns (seconds, webhook latencies,
    minimal latencies, failures, duplicates answered)."""
    from billing.stripe.signing import signature_header

    slices = [bodies[n::CLIENTS] for n in range(CLIENTS)]
    webhook: list[float] = []
    minimal: list[float] = []
    failures: list[str] = []
    duplicates = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS + 1)

    def client(mine: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        for body in mine:
            headers = {
                "Content-Type": "application/json",
                "Stripe-Signature": signature_header(body, SECRET),
            }
            elapsed, status, payload = _post(conn, "/billing/stripe/webhook/", body, headers)
            with lock:
                webhook.append(elapsed)
                if status != 200:
                    failures.append(f"webhook {status}: {payload[:200]!r}")
                elif json.loads(payload)["duplicate"]:
                    duplicates[0] += 1
            if interleave:
                elapsed, status, payload = _post(conn, "/api/bench/minimal-insert", body, headers)
                with lock:
                    minimal.append(elapsed)
                    if status != 200:
                        failures.append(f"minimal {status}: {payload[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=client, args=(mine,)) for mine in slices]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, webhook, minimal, failures, duplicates[0]


def _wait_processed(expected: int) -> float:
    from billing.models import StripeEvent

    start = time.perf_counter()
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while time.monotonic() < deadline:
        done = StripeEvent.objects.filter(status__in=["processed", "skipped", "failed"]).count()
        if done >= expected:
            return time.perf_counter() - start
        time.sleep(0.2)
    raise SystemExit(f"the worker did not process every event in {PROCESS_TIMEOUT} s")


# Correctness ------------------------------------------------------------------------------


def _replay_in_order(twins) -> None:
    """The twins' identical events, stored and processed one after the other in order."""
    from billing.stripe.inbox import stripe_event_store
    from billing.stripe.processing import stripe_event_apply

    for stripe in twins:
        for evt in stripe.events:
            event_id = stripe_event_store(event=evt)
            if event_id is not None:
                stripe_event_apply(event_id=event_id)


def _state(workspace_id: int) -> dict:
    from django.db.models import Sum

    from billing.models import RevenueMovement, Subscription

    sub = Subscription.objects.select_related("plan").get(workspace_id=workspace_id)
    movements = RevenueMovement.objects.filter(workspace_id=workspace_id)
    return {
        "plan": sub.plan.code,
        "price": sub.price_id,
        "seats": sub.seats,
        "status": sub.status,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": sub.canceled_at,
        "trial_end": sub.trial_end,
        "current_period_end": sub.current_period_end,
        "past_due": sub.past_due_since is not None,
        "mrr_cents": sub.mrr_cents,
        "ledger_sum": movements.aggregate(s=Sum("mrr_delta_cents"))["s"] or 0,
    }


def _stripe_truth(stripe) -> tuple[str, str, int]:
    """(plan, status, MRR) of the customer's last subscription as Stripe holds it, worked
    out here from the raw object, independently of the handlers: every item's unit amount
    times its quantity, a yearly one a twelfth (halves up)."""
    from billing.models import Price

    obj = stripe.fake.subscriptions[stripe.subscription["id"]]
    item = obj["items"]["data"][0]
    if obj["status"] not in ("active", "trialing", "past_due"):
        return "free", "canceled", 0
    price = Price.objects.select_related("plan").get(stripe_price_id=item["price"]["id"])
    monthly = 0
    for each in obj["items"]["data"]:
        amount = each["price"]["unit_amount"] * each["quantity"]
        yearly = each["price"]["recurring"]["interval"] == "year"
        monthly += (amount + 6) // 12 if yearly else amount
    mrr = 0 if obj["status"] == "trialing" else monthly
    return price.plan.code, obj["status"], mrr


def _month_kind_totals(workspace_ids: list[int]) -> dict[int, dict]:
    """Per workspace: {(currency, month, kind): cents} of its movements."""
    from billing.selectors import revenue_movement_totals

    totals: dict[int, dict] = {workspace_id: {} for workspace_id in workspace_ids}
    for (workspace_id, currency, month, kind), cents in revenue_movement_totals(
        workspace_ids=workspace_ids
    ).items():
        totals[workspace_id][(currency, f"{month:%Y-%m}", kind)] = cents
    return totals


def _verify(customers, twins) -> tuple[list[str], dict]:
    from billing.models import RevenueMovement, StripeEvent
    from tests.billing.conftest import ledger_violations

    problems = list(ledger_violations())
    run_ids = [c.workspace_id for c in customers]
    twin_ids = [t.workspace_id for t in twins]
    totals = _month_kind_totals(run_ids + twin_ids)
    totals_differ = 0
    for run, twin in zip(customers, twins, strict=True):
        got, want = _state(run.workspace_id), _state(twin.workspace_id)
        if got != want:
            problems.append(f"workspace {run.workspace_id}: {got} != in-order {want}")
        if (got["plan"], got["status"], got["mrr_cents"]) != _stripe_truth(run):
            problems.append(f"workspace {run.workspace_id}: {got} != Stripe {_stripe_truth(run)}")
        if totals[run.workspace_id] != totals[twin.workspace_id]:
            totals_differ += 1
            problems.append(
                f"workspace {run.workspace_id}: movements by month and kind "
                f"{totals[run.workspace_id]} != in-order {totals[twin.workspace_id]}"
            )
    statuses = {
        status: StripeEvent.objects.filter(
            status=status, stripe_id__in=[e["id"] for c in customers for e in c.events]
        ).count()
        for status in ("processed", "skipped", "failed")
    }
    info = {
        "statuses": statuses,
        "movements_run": RevenueMovement.objects.filter(workspace_id__in=run_ids).count(),
        "movements_twin": RevenueMovement.objects.filter(workspace_id__in=twin_ids).count(),
        "corrections_run": RevenueMovement.objects.filter(
            workspace_id__in=run_ids, corrects__isnull=False
        ).count(),
        "totals_differ": totals_differ,
        "month_kind_cells": sum(len(totals[w]) for w in run_ids),
    }
    return problems, info


def main() -> None:
    os.environ.setdefault("EMAIL_URL", "dummymail://")  # trial reminders go nowhere
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    django_setup()
    from django.conf import settings
    from django.db import connection

    from bench.webhook_app import MINIMAL_TABLE_SQL
    from tests.billing.stripe.fake_stripe import FakeStripe

    fake = FakeStripe().start()
    with connection.cursor() as cursor:
        cursor.execute(MINIMAL_TABLE_SQL)
    customers, twins = _fixtures(fake)
    bodies, unique_events = _deliveries(customers)
    split = round(len(bodies) * LATENCY_SHARE)
    env = _environment(fake)
    port = free_port()
    server = _start_gunicorn(port, env)
    worker = _start_worker(env)
    try:
        _run(port, [b"{}"] * CLIENTS * 5, interleave=True)  # warm connections (all 400s)
        fake.requests.clear()
        _, webhook, minimal, failures, dup_a = _run(port, bodies[:split], interleave=True)
        elapsed, _, _, more_failures, dup_b = _run(port, bodies[split:], interleave=False)
        processing = _wait_processed(unique_events)
    finally:
        _stop(server)
        _stop(worker)
    failures += more_failures
    fetches = len(fake.requests)

    # The in-order twins are processed here, against the same fake Stripe.
    settings.STRIPE_SECRET_KEY = env["STRIPE_SECRET_KEY"]
    settings.STRIPE_API_BASE = fake.base_url
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery_app import app as celery_app

    celery_app.conf.task_always_eager = True
    _replay_in_order(twins)
    problems, info = _verify(customers, twins)
    fake.stop()

    deliveries = len(bodies)
    rate = (deliveries - split) / elapsed
    w50, w99 = percentile(webhook, 50), percentile(webhook, 99)
    m50, m99 = percentile(minimal, 50), percentile(minimal, 99)
    ratio = w99 / m99
    duplicates = dup_a + dup_b
    passed = ratio <= 2 and rate >= 300 and not failures and not problems
    differ = info["totals_differ"]
    totals_verdict = (
        "yes, for every workspace" if not differ else f"NO ({differ} workspaces differ)"
    )
    lines = [
        "# Benchmark: Stripe webhooks",
        "",
        f"gunicorn ({WEB_WORKERS} workers) + PostgreSQL + Redis + one `celery -A config "
        f"worker` ({WORKER_CONCURRENCY} processes, at `nice {WORKER_NICE}`) on this machine "
        f"({os.cpu_count()} CPUs), {CLIENTS} keep-alive clients. "
        f"{WORKSPACES} workspaces, each with a drawn lifecycle (checkout or trial, seat and "
        "plan changes, failed and recovered payments, unpaid, cancellation, come-back): "
        f"{unique_events:,} distinct events, {deliveries:,} deliveries of which "
        f"{deliveries - unique_events:,} ({(deliveries - unique_events) / deliveries:.0%}) "
        "duplicates, all shuffled; the worker processes them while they arrive.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| webhook acknowledgement p50 / p99 ({len(webhook):,} requests) | "
        f"{w50 * 1000:.2f} ms / {w99 * 1000:.2f} ms |",
        f"| minimal view, one INSERT, p50 / p99 (interleaved) | "
        f"{m50 * 1000:.2f} ms / {m99 * 1000:.2f} ms |",
        f"| **webhook p99 / minimal p99** | **{ratio:.2f}** (target ≤ 2) |",
        f"| **acknowledged events/s** ({deliveries - split:,} deliveries in {elapsed:.2f} s) | "
        f"**{rate:,.0f}** (target ≥ 300) |",
        f"| answered as duplicates | {duplicates:,} (expected {deliveries - unique_events:,}) |",
        f"| failed requests | {len(failures)} |",
        f"| all events processed, after the last acknowledgement | {processing:.1f} s |",
        f"| events processed / skipped (each with its reason) / failed | "
        f"{info['statuses']['processed']:,} / {info['statuses']['skipped']:,} / "
        f"{info['statuses']['failed']:,} |",
        f"| Stripe API calls the gaps and same-second ties needed | {fetches} |",
        f"| revenue movements: shuffled run (of which corrections) / in-order twins | "
        f"{info['movements_run']:,} ({info['corrections_run']:,}) / "
        f"{info['movements_twin']:,} |",
        f"| **movement totals by month and kind equal the in-order twin's** "
        f"({info['month_kind_cells']:,} sums, per workspace, month and kind) | "
        f"**{totals_verdict}** |",
        "| every workspace's subscription and MRR equal its in-order twin's and Stripe's; "
        f"movements sum to MRR everywhere | {'yes' if not problems else 'NO'} |",
        "",
        "The shuffled run records more movements than in-order delivery: each event's state "
        "is placed at its own time in its subscription's history, and a late one appends "
        "the corrections of the movements after it (the ledger is append-only). Summed by "
        "month and kind they are the in-order movements.",
        "",
        "Verdict: " + ("PASS" if passed else "FAIL"),
    ]
    if failures:
        lines += ["", "First failure: " + failures[0]]
    if problems:
        lines += ["", f"{len(problems)} problems, the first: " + problems[0]]
    write_report("webhooks.md", "\n".join(lines) + "\n")
    write_figures(
        "webhooks",
        "Stripe webhooks",
        [
            figure(
                "webhook acknowledgement p99",
                w99 * 1000,
                unit="ms",
                baseline="minimal view (one INSERT) p99, interleaved",
                baseline_value=m99 * 1000,
                target=("ratio", "<=", 2),
                note=f"p50 {w50 * 1000:.2f} ms against {m50 * 1000:.2f} ms",
            ),
            figure(
                "acknowledged events/s",
                rate,
                unit="events/s",
                target=("value", ">=", 300),
                note=f"{deliveries - split:,} deliveries in {elapsed:.2f} s",
            ),
            figure(
                "answered as duplicates",
                duplicates,
                baseline="duplicates sent",
                baseline_value=deliveries - unique_events,
                target=("ratio", "==", 1),
            ),
            figure("failed requests", len(failures), target=("value", "==", 0)),
            figure(
                "all events processed, after the last acknowledgement",
                processing,
                unit="s",
            ),
            figure(
                "differences from the in-order twins and from Stripe (mirror, MRR, ledger)",
                len(problems),
                target=("value", "==", 0),
            ),
        ],
        context=f"gunicorn ({WEB_WORKERS} workers) and one Celery worker; {WORKSPACES} "
        f"workspaces, {unique_events:,} events, {deliveries:,} deliveries (30% duplicates), "
        "shuffled.",
    )


if __name__ == "__main__":
    main()
