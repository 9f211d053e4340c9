"""A workspace's plan page: its limits with usage, its features and its overrides."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.models import Membership
from accounts.views import workspace_view
from billing import selectors as billing_selectors
from billing.entitlements import (
    Entitlements,
    LimitSpec,
    catalog,
    workspace_entitlements,
)
from billing.models import Feature, Subscription
from billing.views.metrics import metrics_in_order
from billing.views.pricing import plan_column
from usage.current import limit_is_near, usage_current
from usage.models import Metric
from usage.selectors import metric_definitions


@dataclass(frozen=True)
class UsageRow:
    metric: Metric
    spec: LimitSpec
    used: int
    plan_limit: int | None = None  # the plan's own limit (its cap), when ``spec`` is another

    @property
    def percent(self) -> int | None:
        """How full the limit is, 0 to 100; None when unlimited."""
        if self.spec.limit is None:
            return None
        if self.spec.limit == 0:
            return 100
        return min(100, self.used * 100 // self.spec.limit)

    @property
    def is_over(self) -> bool:
        return self.spec.limit is not None and self.used > self.spec.limit

    @property
    def is_full(self) -> bool:
        return self.spec.limit is not None and self.used >= self.spec.limit

    @property
    def level(self) -> str:
        """ok, warn (near the limit) or full, for the bar's colour."""
        if not limit_is_near(self.used, self.spec.limit):
            return "ok"
        return "full" if self.is_full else "warn"


@dataclass(frozen=True)
class FeatureRow:
    key: str
    name: str
    description: str
    enabled: bool


@dataclass(frozen=True)
class OverrideRow:
    label: str
    value: str
    reason: str
    expires_at: datetime | None


def _usage_rows(entitlements: Entitlements) -> list[UsageRow]:
    plan_limits = entitlements.plan.limits
    return [
        UsageRow(
            metric=metric,
            spec=entitlements.limits[metric.key],
            used=usage_current(workspace_id=entitlements.workspace_id, metric=metric.key),
            plan_limit=plan_limits[metric.key].limit if metric.key in plan_limits else None,
        )
        for metric in metrics_in_order(set(entitlements.limits))
    ]


def _feature_rows(entitlements: Entitlements, features: dict[str, Feature]) -> list[FeatureRow]:
    return [
        FeatureRow(
            key=key,
            name=feature.name,
            description=feature.description,
            enabled=entitlements.has_feature(key),
        )
        for key, feature in features.items()
        if key in entitlements.features
    ]


def _override_rows(entitlements: Entitlements, features: dict[str, Feature]) -> list[OverrideRow]:
    metrics = metric_definitions()
    rows = []
    for override in entitlements.overrides:
        if override.metric:
            metric = metrics[override.metric]
            limit = "unlimited" if override.limit is None else f"{override.limit:,} {metric.unit}"
            value = f"{limit} ({override.enforcement})"
            label = metric.name
        else:
            feature = features.get(override.feature)
            label = feature.name if feature else override.feature
            value = "on" if override.enabled else "off"
        rows.append(OverrideRow(label, value, override.reason, override.expires_at))
    return rows


@require_safe
@workspace_view
def workspace_plan(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The workspace's plan: each limit with what is used, its features, the overrides in
    force, and the plans above it."""
    workspace = membership.workspace
    entitlements = workspace_entitlements(workspace_id=workspace.pk)
    features = billing_selectors.feature_definitions()
    plan = entitlements.plan
    upgrades = [p for p in catalog().offered if p.tier_rank > plan.tier_rank]
    usage_rows = _usage_rows(entitlements)
    context = {
        "membership": membership,
        "workspace": workspace,
        "entitlements": entitlements,
        "plan": plan,
        "status": Subscription.Status(entitlements.subscription_status).label,
        "usage_rows": usage_rows,
        "any_over": any(row.is_over for row in usage_rows),
        "feature_rows": _feature_rows(entitlements, features),
        "override_rows": _override_rows(entitlements, features),
        "upgrades": [plan_column(p, "month", plan, is_signed_in=True) for p in upgrades],
        "sales_email": settings.HANDOFF_SALES_EMAIL,
    }
    return render(request, "billing/workspace_plan.html", context)
