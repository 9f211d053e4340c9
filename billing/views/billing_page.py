"""A workspace's billing page and its self-serve flows: checkout, seat and plan changes,
cancel and resume, the billing portal, and the return from checkout."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
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
    PlanView,
    catalog,
    workspace_entitlements,
)
from billing.models import Price, Subscription
from billing.selfserve_forms import CancelForm, SubscriptionChoiceForm
from billing.stripe.gateway import billing_configured, demo_billing_active

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


@require_POST
@workspace_view
def workspace_billing_portal(request: HttpRequest, membership: Membership) -> HttpResponse:
    """To the billing portal (card, invoices), coming back to the billing page. A POST: each
    visit opens a new portal session at Stripe."""
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
