"""The workspace's usage page: every metric against its limit, 30 days of history drawn as
an inline SVG chart (no script, nothing fetched), upgrade prompts near the limit
(``usage.current.NEAR_LIMIT_PERCENT``) and at it."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.models import Membership
from accounts.views import workspace_view
from billing.entitlements import PlanView, catalog, workspace_entitlements
from billing.models import Enforcement
from usage.current import limit_status, usage_current
from usage.models import Metric
from usage.selectors import active_users, daily_history, metric_definitions

CHART_DAYS = 30
CHART_WIDTH, CHART_HEIGHT = 600, 120


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    value: int


@dataclass(frozen=True)
class MetricRow:
    metric: Metric
    used: int
    limit: int | None
    enforcement: str
    percent: int | None
    status: str
    resets_on: date | None
    upgrade_plan: PlanView | None
    bars: list[Bar]
    peak: int


def _next_reset(metric: Metric, now: datetime) -> date | None:
    if not metric.resets_monthly:
        return None
    start = metric.period_start(now)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).date()


def _bars(history: list[tuple[date, int]]) -> tuple[list[Bar], int]:
    peak = max((value for _, value in history), default=0)
    slot = CHART_WIDTH / len(history)
    bars = []
    for n, (day, value) in enumerate(history):
        height = (value / peak) * (CHART_HEIGHT - 4) if peak else 0
        bars.append(
            Bar(
                x=round(n * slot + 1, 1),
                y=round(CHART_HEIGHT - height, 1),
                width=round(slot - 2, 1),
                height=round(height, 1),
                day=day,
                value=value,
            )
        )
    return bars, peak


@require_safe
@workspace_view
def usage(request: HttpRequest, membership: Membership) -> HttpResponse:
    workspace = membership.workspace
    now = timezone.now()
    entitlements = workspace_entitlements(workspace_id=workspace.pk)
    offered = catalog()
    rows = []
    for key, metric in metric_definitions().items():
        spec = entitlements.limit(key)
        used = usage_current(workspace_id=workspace.pk, metric=key)
        limit = spec.limit if spec else None
        status = limit_status(used, limit)
        bars, peak = ([], 0)
        if metric.is_metered:
            bars, peak = _bars(
                daily_history(workspace_id=workspace.pk, metric=key, days=CHART_DAYS)
            )
        rows.append(
            MetricRow(
                metric=metric,
                used=used,
                limit=limit,
                enforcement=spec.enforcement if spec else Enforcement.HARD,
                percent=min(100, round(100 * used / limit)) if limit else None,
                status=status,
                resets_on=_next_reset(metric, now),
                upgrade_plan=(
                    offered.cheapest_allowing(
                        key, max(used, limit) + 1, above_rank=entitlements.plan.tier_rank
                    )
                    if status != "ok" and limit is not None
                    else None
                ),
                bars=bars,
                peak=peak,
            )
        )
    rows.sort(key=lambda row: (not row.metric.is_metered, row.metric.name))
    context = {
        "membership": membership,
        "workspace": workspace,
        "plan": entitlements.plan,
        "rows": rows,
        "active": active_users(workspace_id=workspace.pk, now=now),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "chart_days": CHART_DAYS,
    }
    return render(request, "usage/usage.html", context)
