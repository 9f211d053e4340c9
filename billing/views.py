"""Pages of billing: the public pricing page and a workspace's own plan page.

Both read the plan catalog and a workspace's entitlements through ``billing.entitlements``
(cached) and usage through ``usage.limits``; a workspace's page starts from the tenancy
selector (``accounts.views.workspace_view``), so another workspace's plan is a 404.
Amounts stay integer cents here; templates format them with the ``money`` filter.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts import selectors as accounts_selectors
from accounts.models import Membership
from accounts.views import workspace_view
from billing.entitlements import Entitlements, LimitSpec, PlanView, catalog, workspace_entitlements
from billing.models import Feature, Subscription
from usage.limits import usage_current
from usage.models import Metric
from usage.selectors import metric_definitions

INTERVALS = ("month", "year")
DEFAULT_SALES_EMAIL = "sales@handoff.localhost"


def sales_email() -> str:
    return getattr(settings, "HANDOFF_SALES_EMAIL", DEFAULT_SALES_EMAIL)


# Labels of metrics and features -----------------------------------------------------------


@dataclass(frozen=True)
class MetricLabel:
    key: str
    name: str
    unit: str
    resets_monthly: bool
    is_metered: bool


def _metric_labels() -> dict[str, MetricLabel]:
    """Metric definitions (cached by usage), counted ones (seats, projects) before metered
    ones, each group in the order they were defined."""
    metrics = sorted(metric_definitions().values(), key=lambda m: (m.is_metered, m.pk))
    return {
        m.key: MetricLabel(
            key=m.key,
            name=m.name,
            unit=m.unit,
            resets_monthly=m.reset_period == Metric.Reset.MONTHLY,
            is_metered=m.is_metered,
        )
        for m in metrics
    }


def _metric_label(labels: dict[str, MetricLabel], key: str) -> MetricLabel:
    name = key.replace("_", " ").capitalize()
    return labels.get(key) or MetricLabel(key, name, key.replace("_", " "), False, True)


def _ordered_metrics(labels: dict[str, MetricLabel], keys: set[str]) -> list[MetricLabel]:
    known = [label for key, label in labels.items() if key in keys]
    return known + [_metric_label(labels, key) for key in sorted(keys - labels.keys())]


def _feature_names() -> dict[str, Feature]:
    return {f.key: f for f in Feature.objects.all()}


# The pricing page -------------------------------------------------------------------------


@dataclass(frozen=True)
class LimitCell:
    limit: int | None
    unit: str
    is_soft: bool


@dataclass(frozen=True)
class Row:
    label: str
    description: str
    cells: list[LimitCell] | list[bool]


@dataclass(frozen=True)
class PlanColumn:
    plan: PlanView
    price_cents: int | None  # None: no self-serve price (free, or contact sales)
    currency: str
    interval: str
    saving_cents: int  # per seat per year, paying yearly rather than monthly
    saving_percent: int
    is_current: bool
    is_upgrade: bool

    @property
    def is_free(self) -> bool:
        return self.plan.is_public and self.price_cents is None


def _yearly_saving(plan: PlanView) -> tuple[int, int]:
    """What paying yearly saves per seat over twelve monthly payments: (cents, percent
    rounded down). Zero when either price is missing or they differ in currency."""
    monthly, yearly = plan.price_for("month"), plan.price_for("year")
    if monthly is None or yearly is None or monthly.currency != yearly.currency:
        return 0, 0
    twelve_months = 12 * monthly.amount_cents
    saving = twelve_months - yearly.amount_cents
    if saving <= 0 or twelve_months == 0:
        return 0, 0
    return saving, saving * 100 // twelve_months


def _plan_column(
    plan: PlanView, interval: str, current: PlanView | None, is_signed_in: bool
) -> PlanColumn:
    price = None if plan.contact_sales else plan.price_for(interval)
    saving_cents, saving_percent = _yearly_saving(plan)
    return PlanColumn(
        plan=plan,
        price_cents=price.amount_cents if price else None,
        currency=price.currency if price else "",
        interval=interval,
        saving_cents=saving_cents,
        saving_percent=saving_percent,
        is_current=current is not None and current.id == plan.id,
        is_upgrade=is_signed_in and current is not None and plan.tier_rank > current.tier_rank,
    )


def _pricing_membership(request: HttpRequest) -> Membership | None:
    """The signed-in user's workspace whose plan the page marks: ``?workspace=<slug>`` when
    they are a member of it, else their first workspace."""
    if not request.user.is_authenticated:
        return None
    slug = request.GET.get("workspace")
    if slug:
        try:
            return accounts_selectors.workspace_membership_get(
                user=request.user, workspace_slug=slug
            )
        except Http404:
            pass
    return accounts_selectors.user_memberships(user=request.user).first()


def _pricing_rows(plans: tuple[PlanView, ...]) -> tuple[list[Row], list[Row]]:
    labels = _metric_labels()
    metric_keys = {key for plan in plans for key in plan.limits}
    limit_rows = []
    for metric in _ordered_metrics(labels, metric_keys):
        cells = []
        for plan in plans:
            spec = plan.limits.get(metric.key)
            limit = spec.limit if spec else None
            cells.append(LimitCell(limit, metric.unit, bool(spec and spec.enforcement == "soft")))
        note = "per month" if metric.resets_monthly else ""
        limit_rows.append(Row(metric.name, note, cells))

    features = _feature_names()
    feature_keys = {key for plan in plans for key in plan.features}
    ordered = [key for key in features if key in feature_keys] + sorted(
        feature_keys - features.keys()
    )
    feature_rows = [
        Row(
            features[key].name if key in features else key.replace("_", " ").capitalize(),
            features[key].description if key in features else "",
            [bool(plan.features.get(key)) for plan in plans],
        )
        for key in ordered
    ]
    return limit_rows, feature_rows


def pricing(request: HttpRequest) -> HttpResponse:
    """The plan comparison table: offered plans in tier order, their limits, features and
    per-seat prices, monthly or yearly (``?interval=year``)."""
    interval = request.GET.get("interval")
    if interval not in INTERVALS:
        interval = "month"
    plans = catalog().offered
    membership = _pricing_membership(request)
    current = None
    if membership is not None:
        current = workspace_entitlements(workspace_id=membership.workspace_id).plan
    signed_in = request.user.is_authenticated
    columns = [_plan_column(plan, interval, current, signed_in) for plan in plans]
    limit_rows, feature_rows = _pricing_rows(plans)
    context = {
        "interval": interval,
        "columns": columns,
        "limit_rows": limit_rows,
        "feature_rows": feature_rows,
        "best_yearly_saving": max((c.saving_percent for c in columns), default=0),
        "current_plan": current,
        "current_plan_offered": current is None or any(c.is_current for c in columns),
        "membership": membership,
        "workspace": membership.workspace if membership else None,
        "sales_email": sales_email(),
    }
    return render(request, "billing/pricing.html", context)


# A workspace's plan page ------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRow:
    metric: MetricLabel
    spec: LimitSpec
    used: int

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
        """ok, warn (80 % or more) or full, for the bar's colour."""
        percent = self.percent
        if percent is None or percent < 80:
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


def _usage_rows(entitlements: Entitlements, labels: dict[str, MetricLabel]) -> list[UsageRow]:
    return [
        UsageRow(
            metric=metric,
            spec=entitlements.limits[metric.key],
            used=usage_current(workspace_id=entitlements.workspace_id, metric=metric.key),
        )
        for metric in _ordered_metrics(labels, set(entitlements.limits))
    ]


def _feature_rows(entitlements: Entitlements, features: dict[str, Feature]) -> list[FeatureRow]:
    keys = [key for key in features if key in entitlements.features] + sorted(
        entitlements.features.keys() - features.keys()
    )
    return [
        FeatureRow(
            key=key,
            name=features[key].name if key in features else key.replace("_", " ").capitalize(),
            description=features[key].description if key in features else "",
            enabled=entitlements.has_feature(key),
        )
        for key in keys
    ]


def _override_rows(
    entitlements: Entitlements, labels: dict[str, MetricLabel], features: dict[str, Feature]
) -> list[OverrideRow]:
    rows = []
    for override in entitlements.overrides:
        if override.metric:
            metric = _metric_label(labels, override.metric)
            limit = "unlimited" if override.limit is None else f"{override.limit:,} {metric.unit}"
            value = f"{limit} ({override.enforcement})"
            label = metric.name
        else:
            feature = features.get(override.feature)
            label = feature.name if feature else override.feature
            value = "on" if override.enabled else "off"
        rows.append(OverrideRow(label, value, override.reason, override.expires_at))
    return rows


@workspace_view
def workspace_plan(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The workspace's plan: each limit with what is used, its features, the overrides in
    force, and the plans above it."""
    workspace = membership.workspace
    entitlements = workspace_entitlements(workspace_id=workspace.pk)
    labels = _metric_labels()
    features = _feature_names()
    plan = entitlements.plan
    upgrades = [p for p in catalog().offered if p.tier_rank > plan.tier_rank]
    usage_rows = _usage_rows(entitlements, labels)
    context = {
        "membership": membership,
        "workspace": workspace,
        "entitlements": entitlements,
        "plan": plan,
        "status": Subscription.Status(entitlements.subscription_status).label,
        "usage_rows": usage_rows,
        "any_over": any(row.is_over for row in usage_rows),
        "feature_rows": _feature_rows(entitlements, features),
        "override_rows": _override_rows(entitlements, labels, features),
        "upgrades": [_plan_column(p, "month", plan, is_signed_in=True) for p in upgrades],
        "sales_email": sales_email(),
    }
    return render(request, "billing/workspace_plan.html", context)
