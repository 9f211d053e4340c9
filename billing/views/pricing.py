"""The public pricing page: the plans side by side, their limits and features, monthly or
yearly prices."""

from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts import selectors as accounts_selectors
from accounts.models import Membership
from billing import selectors as billing_selectors
from billing.entitlements import (
    PlanView,
    catalog,
    workspace_entitlements,
)
from billing.models import Enforcement
from billing.views.metrics import metrics_in_order

INTERVALS = ("month", "year")


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
    connected: bool = True  # False: the gateway cannot sell the price yet

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


def plan_column(
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
        connected=price is None
        or billing_selectors.price_connected(stripe_price_id=price.stripe_price_id),
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
    metric_keys = {key for plan in plans for key in plan.limits}
    limit_rows = []
    for metric in metrics_in_order(metric_keys):
        cells = []
        for plan in plans:
            spec = plan.limits.get(metric.key)
            limit = spec.limit if spec else None
            cells.append(
                LimitCell(limit, metric.unit, bool(spec and spec.enforcement == Enforcement.SOFT))
            )
        note = "per month" if metric.resets_monthly else ""
        limit_rows.append(Row(metric.name, note, cells))

    feature_keys = {key for plan in plans for key in plan.features}
    feature_rows = [
        Row(feature.name, feature.description, [bool(plan.features.get(key)) for plan in plans])
        for key, feature in billing_selectors.feature_definitions().items()
        if key in feature_keys
    ]
    return limit_rows, feature_rows


@require_safe
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
    columns = [plan_column(plan, interval, current, signed_in) for plan in plans]
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
        "sales_email": settings.HANDOFF_SALES_EMAIL,
    }
    return render(request, "billing/pricing.html", context)
