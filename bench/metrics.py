"""Benchmark of the revenue figures at scale (issue: growth metrics, "stays fast with many
workspaces").

About 5,000 workspaces with about 12,000 revenue movements and their cancellation requests
(some resumed), spread over two years. ``metrics.selectors.revenue()`` over the last twelve
months is timed with churn counted at period end (the default) and at cancellation, with
same-month subscribe-and-cancel counted and left out: counting at cancellation dates each
churn at its request and should cost about the same.

Run: ``make bench`` (or ``.venv/bin/python scripts/test_services.py -- .venv/bin/python -m
bench.metrics``).
"""

import random
from datetime import UTC, date, datetime, timedelta

from bench.common import django_setup, figure, median, quick, timed, write_figures, write_report

WORKSPACES = 500 if quick() else 5_000
REPEAT = 5
NOW = datetime(2026, 6, 15, tzinfo=UTC)
START = NOW - timedelta(days=730)


def _fixtures() -> tuple[int, int]:
    """Workspaces, their subscriptions, movements and cancellations; (movements, requests)."""
    from accounts.models import Workspace
    from billing.models import Cancellation, Plan, RevenueMovement, Subscription

    rng = random.Random(12)  # noqa: S311 (fixtures, not secrets)
    plan = Plan.objects.get(code="free")
    workspaces = Workspace.objects.bulk_create(
        Workspace(name=f"Bench {n}", slug=f"bench-metrics-{n}") for n in range(WORKSPACES)
    )
    subscriptions = Subscription.objects.bulk_create(
        Subscription(workspace=w, plan=plan, currency="usd" if n % 5 else "eur")
        for n, w in enumerate(workspaces)
    )
    movements: list[RevenueMovement] = []
    requests: list[Cancellation] = []
    for workspace, subscription in zip(workspaces, subscriptions, strict=True):
        mrr, started, paying = 0, False, False
        when = START + timedelta(hours=rng.randrange(24 * 600))
        asks: list[bool] = []  # cancellation requests before a churn: resumed or not
        for _ in range(rng.choice([1, 2, 2, 3, 3, 4])):
            if when > NOW:
                break
            if not paying:
                kind, delta = ("reactivation" if started else "new"), rng.choice([1_000, 9_900])
                paying = started = True
            elif rng.random() < 0.5:
                kind, delta, paying = "churn", -mrr, False
                asks = [True, False] if rng.random() < 0.3 else [False]
            elif mrr > 500 and rng.random() < 0.4:
                kind, delta = "contraction", -300
            else:
                kind, delta = "expansion", 500
            for resumed in asks:
                asked = when - timedelta(hours=rng.randrange(1, 24 * 40))
                requests.append(
                    Cancellation(
                        workspace=workspace,
                        subscription=subscription,
                        reason="too_expensive",
                        requested_at=asked,
                        resumed_at=asked + timedelta(hours=1) if resumed else None,
                    )
                )
            asks = []
            mrr += delta
            movements.append(
                RevenueMovement(
                    workspace=workspace,
                    subscription=subscription,
                    kind=kind,
                    mrr_delta_cents=delta,
                    mrr_after_cents=mrr,
                    currency=subscription.currency,
                    occurred_at=when,
                    plan_code="pro",
                )
            )
            when += timedelta(days=rng.randrange(3, 120))
    RevenueMovement.objects.bulk_create(movements, batch_size=2_000)
    Cancellation.objects.bulk_create(requests, batch_size=2_000)
    return len(movements), len(requests)


def _time(settings) -> tuple[float, object]:
    from metrics import selectors

    money = selectors.Money(currency="usd")
    period = selectors.default_period(NOW)
    run = lambda: selectors.revenue(period=period, money=money, settings=settings, now=NOW)  # noqa: E731
    result = run()  # warm: plans cached, rows read once
    return median(timed(run, REPEAT)), result


def main() -> None:
    django_setup()
    from django.db import connection

    from metrics.models import ChurnCountedAt, MetricsSettings

    movements, requests = _fixtures()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    rows = []
    for same_month in (True, False):
        settings = {
            at: MetricsSettings(pk=1, churn_counted_at=at, count_same_month_cancel=same_month)
            for at in (ChurnCountedAt.PERIOD_END, ChurnCountedAt.CANCELLATION)
        }
        period_end, _ = _time(settings[ChurnCountedAt.PERIOD_END])
        cancellation, result = _time(settings[ChurnCountedAt.CANCELLATION])
        churned = -sum(month.cents["churn"] for month in result.months)
        rows.append((same_month, period_end, cancellation, churned))
    lines = [
        "# Revenue figures at scale",
        "",
        f"{WORKSPACES:,} workspaces, {movements:,} revenue movements, {requests:,} cancellation "
        f"requests; `metrics.selectors.revenue()` over the twelve months to {date(2026, 6, 1)}, "
        f"median of {REPEAT} warm calls on PostgreSQL.",
        "",
        "| same-month subscribe-and-cancel | churn at period end | churn at cancellation "
        "| ratio (cancellation / period end) |",
        "|---|---|---|---|",
    ]
    for same_month, period_end, cancellation, _ in rows:
        lines.append(
            f"| {'counted' if same_month else 'left out'} | {period_end:.3f} s "
            f"| {cancellation:.3f} s | {cancellation / period_end:.1f} times |"
        )
    lines += ["", f"(churn at cancellation over the period: {rows[0][3]:,} cents of usd)", ""]
    write_report("metrics.md", "\n".join(lines))
    write_figures(
        "metrics",
        "Revenue figures",
        [
            figure(
                "`revenue()` over 12 months, churn at cancellation, same-month "
                + ("counted" if same_month else "left out"),
                cancellation,
                unit="s",
                baseline="churn at period end",
                baseline_value=period_end,
                note="should cost about the same as at period end",
            )
            for same_month, period_end, cancellation, _ in rows
        ],
        context=f"{WORKSPACES:,} workspaces, {movements:,} movements, {requests:,} "
        f"cancellation requests; median of {REPEAT} warm calls.",
    )


if __name__ == "__main__":
    main()
