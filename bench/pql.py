"""Benchmark of PQL scoring (issue 10, "Measured").

Builds synthetic workspaces shaped like a freemium base with bulk SQL (INSERT … SELECT
generate_series): about 20% active in the last 30 days, each of those with 30 days of daily
usage rollups, product-event rollups and active-person days; one dormant workspace in seven
with a little activity two months ago; one in ten paying. Then, on the same data in the
same run:

1. at 5,000 workspaces, the set-based job (``pql.jobs.pqls_score``) against a
   straightforward per-workspace ORM loop computing the same signals (``_loop_run``
   below), checking that both give the same scores;
2. the set-based job alone at 100,000 and 1,000,000 workspaces (``BENCH_PQL_MAX`` caps the
   largest size, e.g. ``BENCH_PQL_MAX=100000`` for a quick run).

The job runs as deployed: a Celery worker (``celery -A config worker --concurrency 2``, a
subprocess on the benchmark's database and Redis) takes the chunks ``pqls_score`` queues,
timed from the start of the run to its finish; and, for comparison, inline in this one
process (``BENCH_PQL_INLINE_MAX`` caps the sizes run inline). Chunks are
``HANDOFF_PQL_CHUNK_SIZE`` workspaces. The machine is shared: each figure is printed with
the load average (1 minute) when it was taken.

Targets (2 cores, PostgreSQL): ≥ 50x faster than the loop; 100,000 in ≤ 10 s; 1,000,000 in
≤ 120 s; peak memory of a worker process < 1 GiB.

Run: ``make bench`` (or ``.venv/bin/python scripts/test_services.py -- .venv/bin/python -m
bench.pql``).
"""

import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import django_setup, figure, quick, write_figures, write_report

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
LOOP_SIZE = int(os.environ.get("BENCH_PQL_LOOP_SIZE", 500 if quick() else 5_000))
SIZES = (100_000, 1_000_000)
POOL_USERS = 50  # teammates shared by the workspaces' memberships
TARGET_SPEEDUP = 50
TARGET_SECONDS = {100_000: 10.0, 1_000_000: 120.0}
TARGET_RSS_MIB = 1024
WORKER_CONCURRENCY = 2
WORKER_TIMEOUT_S = 1800


# Data -----------------------------------------------------------------------------------


def _sql(statement: str, params: dict | None = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or {})


def build(n: int) -> dict[str, int]:
    """Replace every workspace by ``n`` synthetic ones (ids 1..n); returns row counts."""
    from django.db import connection, transaction

    from billing.models import Plan

    free = Plan.objects.get(code="free").pk
    pro = Plan.objects.get(code="pro").pk
    today = NOW.date()
    month_start = today.replace(day=1)
    p = {
        "n": n,
        "now": NOW,
        "today": today,
        "month_start": datetime(month_start.year, month_start.month, 1, tzinfo=UTC),
        "free": free,
        "pro": pro,
        "pool": POOL_USERS,
    }
    with transaction.atomic():
        _sql("TRUNCATE accounts_workspace RESTART IDENTITY CASCADE")
        _sql(
            "INSERT INTO accounts_user (password, is_superuser, email, full_name, is_staff, "
            "is_active, date_joined) SELECT '!', false, 'teammate' || j || '@bench.example', "
            "'', false, true, %(now)s FROM generate_series(1, %(pool)s) j "
            "ON CONFLICT DO NOTHING",
            p,
        )
        _sql(
            """
            INSERT INTO accounts_workspace (id, created_at, updated_at, name, slug,
                company_domain, time_zone, activated_at, created_by_id, deleted_at, is_demo,
                signup_source, team_size, use_case)
            SELECT i, c, c, 'Bench ' || i, 'bench-' || i,
                CASE WHEN i %% 10 < 3 THEN 'co' || i || '.example' ELSE '' END,
                (ARRAY['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Tokyo'])[1 + i %% 4],
                CASE WHEN i %% 5 < 2 THEN c + interval '3 hours' END,
                NULL, NULL, false,
                (ARRAY['{}', '{"utm_source": "google", "utm_medium": "cpc"}',
                       '{"referrer": "news.example"}'])[1 + i %% 3]::jsonb,
                (ARRAY['1', '2-10', '11-50', '51-200', ''])[1 + i %% 5],
                (ARRAY['sales', 'team', 'metering', 'exploring', ''])[1 + i %% 5]
            FROM generate_series(1, %(n)s) i,
                LATERAL (SELECT %(now)s::timestamptz - ((40 + i %% 400) || ' days')::interval
                    AS c) t
            """,
            p,
        )
        _sql("SELECT setval('accounts_workspace_id_seq', %(n)s)", p)
        # Memberships: active workspaces 1-3 people, the others their one owner.
        _sql(
            """
            INSERT INTO accounts_membership (created_at, updated_at, role, user_id,
                workspace_id)
            SELECT w.created_at, w.created_at, CASE WHEN j = 0 THEN 'owner' ELSE 'member' END,
                u.id, w.id
            FROM accounts_workspace w
            CROSS JOIN LATERAL generate_series(0,
                CASE WHEN w.id %% 5 = 0 THEN w.id %% 3 ELSE 0 END) j
            JOIN accounts_user u ON u.email = 'teammate' || (1 + (w.id + j) %% %(pool)s)
                || '@bench.example'
            """,
            p,
        )
        # One in ten pays for Pro (5 seats); the others are on the free plan.
        _sql(
            """
            INSERT INTO billing_subscription (created_at, updated_at, seats, status,
                stripe_customer_id, stripe_subscription_id, plan_id, price_id, workspace_id,
                cancel_at_period_end, currency, mrr_cents, billed_mrr_cents)
            SELECT w.created_at, w.created_at, CASE WHEN paid THEN 5 ELSE 0 END, 'active',
                CASE WHEN paid THEN 'cus_b' || w.id ELSE '' END,
                CASE WHEN paid THEN 'sub_b' || w.id ELSE '' END,
                CASE WHEN paid THEN %(pro)s ELSE %(free)s END, NULL, w.id, false, 'usd',
                mrr, mrr
            FROM accounts_workspace w, LATERAL (SELECT w.id %% 10 = 5 AS paid) t,
                LATERAL (SELECT CASE WHEN paid THEN 24500 ELSE 0 END AS mrr) m
            """,
            p,
        )
        # Active workspaces (one in five): 30 days of API calls and people.
        _sql(
            """
            INSERT INTO usage_usagedaily (workspace_id, metric_id, day, value, events)
            SELECT w, 'api_calls', %(today)s::date - d, 10 + (w %% 37) * 20 + d %% 5, 1 + d %% 3
            FROM generate_series(5, %(n)s, 5) w, generate_series(0, 29) d
            """,
            p,
        )
        _sql(
            """
            INSERT INTO usage_activepersonday (workspace_id, day, name, person)
            SELECT w, %(today)s::date - d, 'report_exported', 'u' || j || '@w.example'
            FROM generate_series(5, %(n)s, 5) w, generate_series(0, 29) d,
                LATERAL generate_series(0, w %% 3) j
            WHERE (w / 5 + d * 3 + j * 5) %% 3 <> 0
            """,
            p,
        )
        # A quarter of them hit paywalls in the last two weeks, two people.
        _sql(
            """
            INSERT INTO usage_activepersonday (workspace_id, day, name, person)
            SELECT w, %(today)s::date - d, 'paywall_hit', 'u' || j || '@w.example'
            FROM generate_series(20, %(n)s, 20) w, generate_series(0, 12, 4) d,
                generate_series(0, 1) j
            """,
            p,
        )
        # Dormant: one in seven of the others had a little activity two months ago.
        _sql(
            """
            INSERT INTO usage_usagedaily (workspace_id, metric_id, day, value, events)
            SELECT w, 'api_calls', %(today)s::date - d, 40, 1
            FROM generate_series(7, %(n)s, 7) w, generate_series(45, 65, 10) d
            WHERE w %% 5 <> 0
            """,
            p,
        )
        _sql(
            """
            INSERT INTO usage_activepersonday (workspace_id, day, name, person)
            SELECT w, %(today)s::date - d, 'project_created', 'owner@w.example'
            FROM generate_series(7, %(n)s, 7) w, generate_series(45, 65, 10) d
            WHERE w %% 5 <> 0
            """,
            p,
        )
        _sql(
            """
            INSERT INTO usage_producteventdaily (workspace_id, name, day, events, people,
                last_at)
            SELECT workspace_id, name, day, count(*) * 3, count(*), day + time '15:00'
            FROM usage_activepersonday GROUP BY 1, 2, 3
            """
        )
        _sql(
            """
            INSERT INTO usage_usagecounter (workspace_id, metric_id, period_start, value,
                updated_at)
            SELECT workspace_id, metric_id, %(month_start)s, sum(value), %(now)s
            FROM usage_usagedaily WHERE day >= %(month_start)s::date
            GROUP BY 1, 2
            """,
            p,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        counts = {}
        for table in (
            "accounts_workspace",
            "accounts_membership",
            "usage_usagedaily",
            "usage_producteventdaily",
            "usage_activepersonday",
            "usage_usagecounter",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
            counts[table] = cursor.fetchone()[0]
    return counts


def reset_scores() -> None:
    _sql(
        "TRUNCATE pql_leadactivity, pql_lead, pql_scoresnapshot, pql_score, pql_scoringrun "
        "RESTART IDENTITY"
    )


# The straightforward loop ---------------------------------------------------------------


def _loop_run(now: datetime) -> int:
    """Score every workspace one at a time with plain ORM queries: the same signals, the
    same math and the same writes (score, snapshot, lead) as the job, about twenty queries
    per workspace. Returns how many workspaces it scored."""
    from django.db.models import Count, Max, Q
    from django.db.models.functions import TruncDate

    from accounts.models import Invitation, Membership, Project, Workspace
    from billing.entitlements import workspace_entitlements
    from billing.models import Subscription
    from pql.models import OPEN_LEAD_STATUSES, Lead, LeadStatus, Score, ScoreSnapshot
    from pql.scoring import WorkspaceSignals, score
    from pql.services import scoring_model_published
    from pql.services.lifecycle import reason_signals
    from pql.services.queue import queue_settings, sla_due
    from usage.models import (
        ActivePersonDay,
        Metric,
        ProductEvent,
        ProductEventDaily,
        UsageCounter,
        UsageDaily,
    )

    model = scoring_model_published()
    due = sla_due(now, queue_settings())
    config = model.config()
    cap = model.daily_activity_cap
    metrics = list(Metric.objects.all())
    names = {metric.key: metric.name for metric in metrics}
    today = now.astimezone(UTC).date()
    scored = 0

    def people(workspace, first, last, **filters) -> int:
        return (
            ActivePersonDay.objects.filter(workspace=workspace, day__gte=first, day__lte=last)
            .filter(**filters)
            .values("person")
            .distinct()
            .count()
        )

    for workspace in (
        Workspace.objects.filter(deleted_at__isnull=True, created_at__lte=now)
        .select_related("created_by")
        .order_by("pk")
    ):
        members = Membership.objects.filter(workspace=workspace, created_at__lte=now).count()
        pending = Invitation.objects.filter(
            workspace=workspace,
            created_at__lte=now,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).count()
        sent = sum(
            min(row["n"], cap)
            for row in Invitation.objects.filter(
                workspace=workspace, sent_at__gte=now - timedelta(days=30), sent_at__lte=now
            )
            .values(day=TruncDate("sent_at"))
            .annotate(n=Count("id"))
        )
        entitlements = workspace_entitlements(workspace_id=workspace.pk, now=now)
        subscription = Subscription.objects.filter(workspace=workspace).first()
        usage = {"seats": members + pending}
        usage["projects"] = Project.objects.filter(workspace=workspace).count()
        for metric in metrics:
            if metric.is_metered:
                counter = UsageCounter.objects.filter(
                    workspace=workspace, metric=metric, period_start=metric.period_start(now)
                ).first()
                usage[metric.key] = counter.value if counter else 0
        limits = {metric.key: entitlements.limit(metric.key).limit for metric in metrics}
        paywall = Q(name=ProductEvent.PAYWALL_HIT)
        fortnight = today - timedelta(days=13)
        last_usage = UsageDaily.objects.filter(workspace=workspace, day__lte=today).aggregate(
            d=Max("day")
        )["d"]
        last_event = ProductEventDaily.objects.filter(
            workspace=workspace, day__lte=today
        ).aggregate(d=Max("day"))["d"]
        last = max((d for d in (last_usage, last_event) if d), default=None)
        source = workspace.signup_source or {}
        activated = workspace.activated_at is not None and workspace.activated_at <= now
        team = workspace.team_size.split("-")[0].rstrip("+")
        signals = WorkspaceSignals(
            workspace_id=workspace.pk,
            company_domain=workspace.company_domain or None,
            team_size=int(team) if team.isdigit() else None,
            use_case=workspace.use_case or None,
            utm_source=source.get("utm_source"),
            utm_medium=source.get("utm_medium"),
            utm_campaign=source.get("utm_campaign"),
            referrer=source.get("referrer"),
            time_zone=workspace.time_zone,
            is_paid=bool(subscription and subscription.is_paid),
            limits=limits,
            usage=usage,
            metric_names=names,
            seats_used=members + pending,
            seats_allowed=limits.get("seats"),
            active_people_7d=people(workspace, today - timedelta(days=6), today),
            active_people_prev_7d=people(
                workspace, today - timedelta(days=13), today - timedelta(days=7)
            ),
            active_people_30d=people(workspace, today - timedelta(days=29), today),
            activated=activated,
            hours_to_first_value=(
                (workspace.activated_at - workspace.created_at).total_seconds() / 3600
                if activated
                else None
            ),
            paywall_people_14d=people(workspace, fortnight, today, name=ProductEvent.PAYWALL_HIT),
            paywall_days_14d=ProductEventDaily.objects.filter(
                paywall, workspace=workspace, day__gte=fortnight, day__lte=today
            ).count(),
            invitations_sent_30d=sent,
            days_since_last_activity=None if last is None else (today - last).days,
        )
        result = score(signals, config)
        values = {
            "model": model,
            "fit": result.fit,
            "engagement": result.engagement,
            "is_pql": result.is_pql,
            "lead_type": result.lead_type,
        }
        Score.objects.update_or_create(
            workspace=workspace,
            defaults=values
            | {"components": [c.as_dict() for c in result.components], "computed_at": now},
        )
        ScoreSnapshot.objects.update_or_create(
            workspace=workspace,
            day=today,
            defaults={k: values[k] for k in ("model", "fit", "engagement", "is_pql")},
        )
        has_open = Lead.objects.filter(workspace=workspace, status__in=OPEN_LEAD_STATUSES)
        if result.is_pql and not has_open.exists():
            Lead.objects.create(
                workspace=workspace,
                type=result.lead_type,
                status=LeadStatus.NEW,
                model=model,
                fit_at_open=result.fit,
                engagement_at_open=result.engagement,
                top_reasons=result.top_reasons(),
                reason_signals=reason_signals(result.top_reasons()),
                opened_at=now,
                sla_due_at=due,
                fit=result.fit,
                engagement=result.engagement,
                mrr_at_open_cents=subscription.mrr_cents if subscription else 0,
                currency=subscription.currency if subscription else "usd",
            )
        scored += 1
    return scored


def _scores() -> dict[int, tuple]:
    from pql.models import Score

    return {
        row[0]: row[1:]
        for row in Score.objects.values_list(
            "workspace_id", "fit", "engagement", "is_pql", "lead_type", "components"
        )
    }


def _job(now: datetime) -> tuple[float, int]:
    """The job inline, in this process: seconds and chunks."""
    from pql.jobs import pqls_score

    start = time.perf_counter()
    run = pqls_score(now=now)
    elapsed = time.perf_counter() - start
    if run is None or run.status != "finished":
        raise SystemExit(f"the scoring run did not finish: {run}")
    return elapsed, run.chunk_count


def _job_on_workers(now: datetime) -> tuple[float, int]:
    """The job as deployed: this process starts the run and queues its chunks; the worker
    processes score them. Seconds from the start to the run's finish, and chunks."""
    from pql.jobs import pqls_score
    from pql.models import ScoringRun
    from pql.tasks import score_pqls_chunk

    start = time.perf_counter()
    run = pqls_score(now=now, dispatch=lambda *chunk: score_pqls_chunk.delay(*chunk))
    if run is None:
        raise SystemExit("another scoring run is going")
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while run.status == ScoringRun.Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
        run.refresh_from_db(fields=["status"])
    elapsed = time.perf_counter() - start
    if run.status != ScoringRun.Status.FINISHED:
        raise SystemExit(f"the scoring run did not finish on the workers: {run}")
    return elapsed, run.chunk_count


class Workers:
    """``celery -A config worker --concurrency N`` as a subprocess, configured as deployed
    (DEBUG off, persistent database connections) on this benchmark's database and Redis."""

    def __init__(self, concurrency: int) -> None:
        import secrets

        from bench.common import ROOT

        env = os.environ | {
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_urlsafe(24),
            "HANDOFF_SITE_URL": "http://127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                f"--concurrency={concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=WARNING",
            ],
            cwd=ROOT,
            env=env,
        )
        self._wait_ready(concurrency)

    def _wait_ready(self, concurrency: int) -> None:
        from config.celery_app import app

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("the Celery worker exited at start")
            if app.control.ping(timeout=0.5) and len(self._children()) >= concurrency:
                return
            time.sleep(0.2)
        raise SystemExit("the Celery worker did not answer")

    def _children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def peak_rss_mib(self) -> float:
        """The largest peak resident set (VmHWM) of the worker processes so far."""
        peaks = [0.0]
        for pid in [self.process.pid, *self._children()]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return max(peaks)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def main() -> None:
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    django_setup()
    from django.conf import settings
    from django.core.cache import cache

    from pql.models import Lead, Score

    largest = int(os.environ.get("BENCH_PQL_MAX", 0 if quick() else SIZES[-1]))
    inline_largest = int(os.environ.get("BENCH_PQL_INLINE_MAX", SIZES[-1]))
    chunk_size = settings.HANDOFF_PQL_CHUNK_SIZE
    lines = []
    verdicts = []
    figures = []
    workers = Workers(WORKER_CONCURRENCY)
    try:
        start = time.perf_counter()
        counts = build(LOOP_SIZE)
        build_s = time.perf_counter() - start
        cache.clear()
        start = time.perf_counter()
        looped = _loop_run(NOW)
        loop_s = time.perf_counter() - start
        loop_load = _load()
        loop_scores, loop_leads = _scores(), Lead.objects.count()
        reset_scores()
        inline_s, chunks = _job(NOW)
        inline_load = _load()
        inline_scores, inline_leads = _scores(), Lead.objects.count()
        reset_scores()
        job_s, chunks = _job_on_workers(NOW)
        job_load = _load()
        job_scores, job_leads = _scores(), Lead.objects.count()
        same = (
            loop_scores == inline_scores == job_scores and loop_leads == inline_leads == job_leads
        )
        speedup = loop_s / job_s
        pqls = Score.objects.filter(is_pql=True).count()
        lines.append(
            f"| {LOOP_SIZE:,} | {counts['usage_usagedaily']:,} / "
            f"{counts['usage_producteventdaily']:,} / {counts['usage_activepersonday']:,} | "
            f"{build_s:.1f} s | **{job_s:.2f} s** ({chunks} chunks; {job_load}) | "
            f"{inline_s:.2f} s ({inline_load}) | {loop_s:.1f} s ({looped:,}; {loop_load}) | "
            f"**{speedup:.0f}x** (inline {loop_s / inline_s:.0f}x) | {pqls:,} / {job_leads:,} |"
        )
        verdicts.append(("same scores and leads from the loop, inline and on workers", same))
        figures.append(
            figure(
                f"job on workers at {LOOP_SIZE:,} workspaces",
                job_s,
                unit="s",
                baseline="per-workspace ORM loop",
                baseline_value=loop_s,
                ratio=speedup,
                target=("ratio", ">=", TARGET_SPEEDUP),
                note=f"ratio is the speed-up; inline {inline_s:.2f} s; {job_load}",
            )
        )
        figures.append(
            figure(
                "same scores and leads from the loop, inline and on workers",
                same,
                target=("value", "==", True),
            )
        )
        verdicts.append(
            (
                f"job ≥ {TARGET_SPEEDUP}x faster than the loop ({speedup:.0f}x)",
                speedup >= TARGET_SPEEDUP,
            )
        )
        print(lines[-1], flush=True)

        for size in [s for s in SIZES if s <= largest]:
            start = time.perf_counter()
            counts = build(size)
            build_s = time.perf_counter() - start
            inline = "not run"
            if size <= inline_largest:
                inline_s, _ = _job(NOW)
                inline = f"{inline_s:.1f} s ({size / inline_s:,.0f}/s; {_load()})"
                reset_scores()
            job_s, chunks = _job_on_workers(NOW)
            job_load = _load()
            pqls = Score.objects.filter(is_pql=True).count()
            scored = Score.objects.count()
            lines.append(
                f"| {size:,} | {counts['usage_usagedaily']:,} / "
                f"{counts['usage_producteventdaily']:,} / {counts['usage_activepersonday']:,} | "
                f"{build_s:.1f} s | **{job_s:.1f} s** ({chunks} chunks, "
                f"{scored / job_s:,.0f} workspaces/s; {job_load}) | {inline} | — | — | "
                f"{pqls:,} / {Lead.objects.count():,} |"
            )
            verdicts.append(
                (
                    f"{size:,} in ≤ {TARGET_SECONDS[size]:.0f} s ({job_s:.1f} s, {job_load})",
                    job_s <= TARGET_SECONDS[size],
                )
            )
            figures.append(
                figure(
                    f"job on workers at {size:,} workspaces",
                    job_s,
                    unit="s",
                    baseline="the job inline, one process" if size <= inline_largest else None,
                    baseline_value=inline_s if size <= inline_largest else None,
                    target=("value", "<=", TARGET_SECONDS[size]),
                    note=f"{chunks} chunks, {scored / job_s:,.0f} workspaces/s; built in "
                    f"{build_s:.0f} s; {job_load}",
                )
            )
            print(lines[-1], flush=True)
        worker_rss = workers.peak_rss_mib()
    finally:
        workers.stop()

    rss = _rss_mib()
    for size in [s for s in SIZES if s > largest]:
        figures.append(
            figure(
                f"job on workers at {size:,} workspaces",
                None,
                unit="s",
                target=("value", "<=", TARGET_SECONDS[size]),
                note=f"not run: BENCH_PQL_MAX={largest} (`make bench ONLY=pql "
                f"BENCH_PQL_MAX={size}` runs it)",
            )
        )
    figures.append(
        figure(
            "peak RSS of a worker process",
            worker_rss,
            unit="MiB",
            target=("value", "<", TARGET_RSS_MIB),
        )
    )
    verdicts.append(
        (
            f"peak memory of a worker process < {TARGET_RSS_MIB} MiB ({worker_rss:,.0f} MiB)",
            worker_rss < TARGET_RSS_MIB,
        )
    )
    report = "\n".join(
        [
            "# Benchmark: PQL scoring",
            "",
            f"This machine (2 CPUs, shared with other jobs: the load average beside each "
            f"figure) with PostgreSQL. `pql.jobs.pqls_score` in chunks of {chunk_size:,} "
            "workspaces (each chunk: ~17 set-based reads, the scoring math, scores and "
            "snapshots copied into a temporary table and merged, lead sync, one "
            f"transaction), run as deployed on a Celery worker with {WORKER_CONCURRENCY} "
            "processes (timed from the start of the run to its finish), and inline in one "
            "process. Synthetic freemium base: 20% of workspaces active in the last 30 "
            "days with 30 days of usage rollups, product-event rollups and active-person "
            "days; 10% paying; one dormant workspace in seven with activity two months ago. "
            f"Scored as of {NOW:%Y-%m-%d %H:%M} UTC.",
            "",
            "| workspaces | usage days / event days / person days | build | job on workers | "
            "job inline | per-workspace ORM loop | speed-up | PQLs / leads |",
            "|---|---|---|---|---|---|---|---|",
            *lines,
            "",
            f"Peak RSS of a worker process (VmHWM): {worker_rss:,.0f} MiB; of the benchmark "
            f"process (ru_maxrss, data building and the inline runs included): {rss:,.0f} MiB.",
            "",
            *[f"- {'PASS' if ok else 'FAIL'}: {text}" for text, ok in verdicts],
            "",
            f"Verdict: {'PASS' if all(ok for _, ok in verdicts) else 'FAIL'}",
            "",
        ]
    )
    write_report("pql.md", report)
    write_figures(
        "pql",
        "PQL scoring",
        figures,
        context=f"Celery worker ({WORKER_CONCURRENCY} processes), chunks of {chunk_size:,}; "
        "synthetic freemium base built with bulk SQL.",
    )


if __name__ == "__main__":
    main()
