"""Pages of billing: the public pricing page, a workspace's plan page, and its billing page
with the self-serve flows.

They read the plan catalog and a workspace's entitlements through ``billing.entitlements``
(cached) and usage through ``usage.limits``; a workspace's page starts from the tenancy
selector (``accounts.views.workspace_view``), so another workspace's plan is a 404. The
local gateway's stand-ins for Stripe's hosted pages are in ``billing.stripe.local.views``.
Changes go through ``billing.services``; a refused change re-renders the page with the
reason and the status the error carries. Amounts stay integer cents here; templates format
them with the ``money`` filter.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors as accounts_selectors
from accounts.errors import ApplicationError
from accounts.models import Membership
from accounts.views import workspace_view
from billing import selectors as billing_selectors
from billing import services
from billing.entitlements import (
    Entitlements,
    LimitSpec,
    PlanView,
    catalog,
    limit_is_near,
    workspace_entitlements,
)
from billing.models import Enforcement, Feature, Price, Subscription
from billing.selfserve_forms import CancelForm, SubscriptionChoiceForm
from billing.stripe.gateway import billing_configured, demo_billing_active
from usage.limits import usage_current
from usage.models import Metric
from usage.selectors import metric_definitions

INTERVALS = ("month", "year")


# Metrics and features, in display order --------------------------------------------------


def _metrics_in(keys: set[str]) -> list[Metric]:
    """The metrics named by ``keys`` (limits point to real metrics), counted ones (seats,
    projects) before metered ones, each group in the order they were defined."""
    return sorted(
        (m for key, m in metric_definitions().items() if key in keys),
        key=lambda m: (m.is_metered, m.pk),
    )


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
    for metric in _metrics_in(metric_keys):
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
        "sales_email": settings.HANDOFF_SALES_EMAIL,
    }
    return render(request, "billing/pricing.html", context)


# A workspace's plan page ------------------------------------------------------------------


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
        for metric in _metrics_in(set(entitlements.limits))
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
        "upgrades": [_plan_column(p, "month", plan, is_signed_in=True) for p in upgrades],
        "sales_email": settings.HANDOFF_SALES_EMAIL,
    }
    return render(request, "billing/workspace_plan.html", context)


# A workspace's billing page ---------------------------------------------------------------

INVOICES_SHOWN = 24
RETURN_POLLS = 60  # about a minute of "processing…" before the page says it is late


@dataclass(frozen=True)
class PriceOption:
    """One plan and interval the workspace can buy, for the plan selects."""

    id: int
    plan: PlanView
    interval: str
    amount_cents: int
    currency: str
    per_seat: bool
    connected: bool = True  # False: shown, but it cannot be bought yet

    @property
    def label(self) -> str:
        return f"{self.plan.name} · {'monthly' if self.interval == 'month' else 'yearly'}"


def _price_options(currency: str) -> list[PriceOption]:
    """Offered self-serve paid plans' active prices in the workspace's currency."""
    return [
        PriceOption(
            id=price.id,
            plan=plan,
            interval=price.interval,
            amount_cents=price.amount_cents,
            currency=price.currency,
            per_seat=price.scheme == Price.Scheme.PER_SEAT,
            connected=billing_selectors.price_connected(stripe_price_id=price.stripe_price_id),
        )
        for plan in catalog().offered
        if plan.is_public and not plan.is_default_free
        for price in sorted(plan.prices, key=lambda p: p.interval != "month")
        if price.currency == currency
    ]


@dataclass(frozen=True)
class BillingState:
    """The billing page's view of the mirror."""

    subscription: Subscription
    is_paid: bool
    canceling: bool
    seats_used: int
    recurring_cents: int | None

    @property
    def status_label(self) -> str:
        return Subscription.Status(self.subscription.status).label


def _billing_state(workspace) -> BillingState:
    subscription = billing_selectors.workspace_subscription(workspace_id=workspace.pk)
    price = subscription.price
    recurring = None
    if subscription.is_paid and price is not None:
        recurring = price.amount_for(subscription.seats)
    return BillingState(
        subscription=subscription,
        is_paid=subscription.is_paid,
        canceling=subscription.is_paid and billing_selectors.subscription_canceling(subscription),
        seats_used=accounts_selectors.workspace_seats_used(workspace_id=workspace.pk),
        recurring_cents=recurring,
    )


def _initial_choice(request: HttpRequest, state: BillingState, options: list[PriceOption]):
    """The plan select's initial price: ``?plan=&interval=`` from the pricing page, else
    the current price, else the first offered that can be bought."""
    wanted_plan, wanted_interval = request.GET.get("plan"), request.GET.get("interval", "month")
    for option in options:
        matches = option.plan.code == wanted_plan and option.interval == wanted_interval
        if matches and option.connected:
            return option.id
    if state.subscription.price_id:
        return state.subscription.price_id
    return next((option.id for option in options if option.connected), None)


def _billing_page(
    request: HttpRequest,
    membership: Membership,
    *,
    choice_form: SubscriptionChoiceForm | None = None,
    cancel_form: CancelForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    workspace = membership.workspace
    state = _billing_state(workspace)
    options = _price_options(state.subscription.currency)
    if choice_form is None:
        seats = state.subscription.seats if state.is_paid else max(state.seats_used, 1)
        choice_form = SubscriptionChoiceForm(
            initial={"price": _initial_choice(request, state, options), "seats": seats}
        )
    switch = None  # the same plan on the other interval, for "switch to yearly/monthly"
    if state.is_paid and state.subscription.price is not None:
        current = state.subscription.price
        switch = next(
            (o for o in options if o.plan.id == current.plan_id and o.interval != current.interval),
            None,
        )
    context = {
        "membership": membership,
        "workspace": workspace,
        "state": state,
        "subscription": state.subscription,
        "switch": switch,
        "entitlements": workspace_entitlements(workspace_id=workspace.pk),
        "options": options,
        "any_connected": any(option.connected for option in options),
        "choice_form": choice_form,
        "cancel_form": cancel_form or CancelForm(),
        "invoices": billing_selectors.workspace_invoices(workspace_id=workspace.pk)[
            :INVOICES_SHOWN
        ],
        "error": error,
        "checkout_canceled": request.GET.get("checkout") == "canceled",
        "local_gateway": demo_billing_active(),
        "billing_configured": billing_configured(),
        "now": timezone.now(),
        "sales_email": settings.HANDOFF_SALES_EMAIL,
    }
    return render(request, "billing/billing.html", context, status=status)


def _forbidden(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _billing_page(
        request,
        membership,
        error="Only the workspace's owners and admins can change its billing.",
        status=403,
    )


def _site_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@require_GET
@workspace_view
def workspace_billing(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The workspace's plan, seats, price, renewal and status; the upgrade from free, the
    plan and seat changes with their preview, cancel and resume, invoices and the billing
    portal. Members see it read-only."""
    return _billing_page(request, membership)


@require_POST
@workspace_view
def workspace_billing_checkout(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Upgrade from free: the chosen plan, interval and seats → Stripe Checkout (or the
    local checkout page)."""
    if not membership.can_manage:
        return _forbidden(request, membership)
    form = SubscriptionChoiceForm(request.POST)
    if not form.is_valid():
        return _billing_page(request, membership, choice_form=form, status=400)
    try:
        url = services.checkout_start(
            workspace=membership.workspace,
            price=form.cleaned_data["price"],
            seats=form.cleaned_data["seats"],
            actor=request.user,
            site_url=_site_url(request),
        )
    except ApplicationError as exc:
        return _refused(request, membership, exc, choice_form=form)
    return _redirect_out(request, url)


def _refused(
    request: HttpRequest, membership: Membership, exc: ApplicationError, **forms
) -> HttpResponse:
    """The billing page again, with the reason a service refused the change and the
    status it carries: beside the field at fault, or else at the top of the page, where it
    is seen whichever forms the page shows now (a 409 often means the state changed, and
    the form that was submitted is no longer on the page)."""
    form = next(iter(forms.values()))
    if exc.field in form.fields:
        form.add_error(exc.field, exc.message)
        error = ""
    else:
        error = exc.message
    return _billing_page(request, membership, error=error, status=exc.status, **forms)


def _redirect_out(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect that also leaves a boosted (htmx) request for another site."""
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@require_http_methods(["GET", "POST"])
@workspace_view
def workspace_billing_change(request: HttpRequest, membership: Membership) -> HttpResponse:
    """GET: the preview of a change (``?price=&seats=``): what is due now, prorated, and the
    new amount per period, with a confirm button. POST: apply it."""
    if not membership.can_manage:
        return _forbidden(request, membership)
    workspace = membership.workspace
    form = SubscriptionChoiceForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        return _billing_page(request, membership, choice_form=form, status=400)
    price, seats = form.cleaned_data["price"], form.cleaned_data["seats"]
    try:
        if request.method == "GET":
            preview = services.subscription_change_preview(
                workspace=workspace, price=price, seats=seats
            )
        else:
            services.subscription_change(
                workspace=workspace, price=price, seats=seats, actor=request.user
            )
    except ApplicationError as exc:
        return _refused(request, membership, exc, choice_form=form)
    if request.method == "POST":
        messages.success(
            request,
            f"Subscription changed to {price.plan.name} "
            f"{price.get_interval_display().lower()}, {seats} seat{'s' if seats != 1 else ''}.",
        )
        return redirect("workspace_billing", workspace_slug=workspace.slug)
    state = _billing_state(workspace)
    per_seat = price.scheme == Price.Scheme.PER_SEAT
    context = {
        "membership": membership,
        "workspace": workspace,
        "state": state,
        "subscription": state.subscription,
        "price": price,
        "seats": seats,
        "per_seat": per_seat,
        "preview": preview,
        "lower": state.recurring_cents is not None
        and preview.next_amount_cents < state.recurring_cents
        and price.interval == state.subscription.price.interval,
    }
    return render(request, "billing/change_preview.html", context)


@require_POST
@workspace_view
def workspace_billing_cancel(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Cancel at the end of the period, with a reason."""
    if not membership.can_manage:
        return _forbidden(request, membership)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _billing_page(request, membership, cancel_form=form, status=400)
    try:
        services.subscription_cancel(
            workspace=membership.workspace,
            reason=form.cleaned_data["reason"],
            comment=form.cleaned_data["comment"],
            actor=request.user,
        )
    except ApplicationError as exc:
        return _refused(request, membership, exc, cancel_form=form)
    messages.success(request, "The subscription will end at the end of the period.")
    return redirect("workspace_billing", workspace_slug=membership.workspace.slug)


@require_POST
@workspace_view
def workspace_billing_resume(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Keep a subscription set to end, before the period ends."""
    if not membership.can_manage:
        return _forbidden(request, membership)
    try:
        services.subscription_resume(workspace=membership.workspace, actor=request.user)
    except ApplicationError as exc:
        return _billing_page(request, membership, error=exc.message, status=exc.status)
    messages.success(request, "The subscription continues: it renews as before.")
    return redirect("workspace_billing", workspace_slug=membership.workspace.slug)


@require_http_methods(["GET", "POST"])
@workspace_view
def workspace_billing_portal(request: HttpRequest, membership: Membership) -> HttpResponse:
    """To the billing portal (card, invoices), coming back to the billing page."""
    if not membership.can_manage:
        return _forbidden(request, membership)
    workspace = membership.workspace
    return_url = request.build_absolute_uri(
        reverse("workspace_billing", kwargs={"workspace_slug": workspace.slug})
    )
    try:
        url = services.billing_portal_url(workspace=workspace, return_url=return_url)
    except ApplicationError as exc:
        return _billing_page(request, membership, error=exc.message, status=exc.status)
    return _redirect_out(request, url)


def _return_context(request: HttpRequest, membership: Membership) -> dict:
    try:
        polls = max(0, int(request.GET.get("polls", "0")))
    except ValueError:
        polls = 0
    state = _billing_state(membership.workspace)
    return {
        "membership": membership,
        "workspace": membership.workspace,
        "state": state,
        "session_id": request.GET.get("session_id", "")[:255],
        "polls": polls + 1,
        "late": polls >= RETURN_POLLS,
    }


@require_GET
@workspace_view
def workspace_billing_return(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Back from checkout: "processing…" until the webhooks have put the workspace on its
    new plan (the status partial polls)."""
    return render(request, "billing/checkout_return.html", _return_context(request, membership))


@require_GET
@workspace_view
def workspace_billing_status(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The return page's status partial, polled by htmx every second until done."""
    return render(request, "billing/_checkout_status.html", _return_context(request, membership))
